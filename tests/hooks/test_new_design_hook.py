"""KlingHook on Kling's new API design, over HTTP against the emulator: submit, GET /tasks, API key only."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.exceptions import is_not_found
from airflow_provider_kling.hooks import new_design
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.new_design import MAX_IDS_PER_QUERY, MAX_QUERY_CHARS, id_batches
from airflow_provider_kling.hooks.transport import RetryPolicy
from kling_emulator.server import EmulatorServer
from kling_emulator.state import EMPTY_BODY, MALFORMED_JSON_BODY, Fault
from tests.conftest import conn_json

TASKS = "GET /tasks"
CREATE_T2V = "POST /text-to-video/{model}"


def t2v(external_task_id: str | None = None, prompt: str = "A kite over the sea") -> dict[str, Any]:
    """A new-design text-to-video payload as the request models write it (ids at the top)."""
    payload: dict[str, Any] = {"model_name": "kling-3.0-turbo", "prompt": prompt}
    if external_task_id:
        payload["external_task_id"] = external_task_id
    return payload


def submit(hook: KlingHook, n: int, prefix: str = "nd") -> list[str]:
    async def all_of_them() -> list[str]:
        return [(await hook.asubmit_task("text-to-video", t2v(f"{prefix}-{i}"))).task_id for i in range(n)]

    return hook.run_sync(all_of_them)


# ---------------------------------------------------------------------------- batches (no HTTP)


def test_batches_hold_at_most_100_ids() -> None:
    ids = [str(10**17 + i) for i in range(250)]
    batches = id_batches(ids)
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [i for b in batches for i in b] == ids  # order kept, nothing lost


def test_batches_keep_the_query_string_short_for_long_ids() -> None:
    ids = [f"airflow-{'x' * 120}-{i}" for i in range(100)]
    batches = id_batches(ids, key="external_task_ids")
    assert len(batches) > 1 and [i for b in batches for i in b] == ids
    for batch in batches:
        from urllib.parse import urlencode

        assert len(urlencode({"external_task_ids": ",".join(batch)})) <= MAX_QUERY_CHARS


def test_batches_drop_duplicates() -> None:
    assert id_batches(["1", "2", "1"]) == [["1", "2"]]
    assert id_batches([]) == []


# ---------------------------------------------------------------------------- over HTTP


def test_submit_goes_to_the_model_path_and_reads_back_through_get_tasks(
    kling_key_conn: EmulatorServer,
) -> None:
    hook = KlingHook()
    task = hook.submit_task("text-to-video", t2v("nd-one"))
    stats = kling_key_conn.emulator.stats
    assert stats.by_route[CREATE_T2V] == 1 and stats.submits == 1
    assert task.api_design == "new" and task.external_task_id == "nd-one"
    by_id = hook.get_task("text-to-video", task.task_id)
    by_external = hook.get_task("omni-video", "nd-one")  # every new family reads GET /tasks
    assert by_id.task_id == by_external.task_id == task.task_id
    assert stats.by_route[TASKS] == 3  # by id: 1; by external id: task_ids miss, then external_task_ids


def test_unknown_ids_are_absent_find_gives_none_get_raises_not_found(kling_key_conn: EmulatorServer) -> None:
    hook = KlingHook()
    assert hook.find_task("text-to-video", "never-submitted") is None
    with pytest.raises(exc.KlingInvalidRequestError, match="does not know") as error:
        hook.get_task("image-to-video", "never-submitted")
    assert is_not_found(error.value)


def test_a_batch_returns_the_tasks_kling_knows_in_one_request_per_batch(
    kling_key_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = KlingHook()
    ids = submit(hook, 7)
    monkeypatch.setattr(new_design, "MAX_IDS_PER_QUERY", 3)
    stats = kling_key_conn.emulator.stats
    before = stats.by_route[TASKS]
    found = hook.get_tasks([*ids, "unknown-1"], by="task_ids")
    assert sorted(found) == sorted(ids) and all(found[i].task_id == i for i in ids)
    assert stats.by_route[TASKS] - before == math.ceil(8 / 3)
    by_external = hook.get_tasks([f"nd-{i}" for i in range(7)], by="external_task_ids")
    assert {t.task_id for t in by_external.values()} == set(ids)


def test_any_reads_task_ids_then_the_rest_as_external_ids_in_one_more_call(
    kling_key_conn: EmulatorServer,
) -> None:
    hook = KlingHook()
    ids = submit(hook, 4)
    stats = kling_key_conn.emulator.stats
    before = stats.by_route[TASKS]
    found = hook.get_tasks([ids[0], ids[1], "nd-2", "nd-3", "unknown"])
    assert [found[k].task_id for k in (ids[0], ids[1], "nd-2", "nd-3")] == ids
    assert "unknown" not in found
    assert stats.by_route[TASKS] - before == 2
    assert MAX_IDS_PER_QUERY == 100


def test_raw_entries_come_one_answer_at_a_time_unparsed_each_id_once(
    kling_key_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a poller reads: each GET /tasks answer as it arrives, raw, keyed by the id asked for."""
    hook = KlingHook()
    ids = submit(hook, 5, prefix="raw")
    monkeypatch.setattr(new_design, "MAX_IDS_PER_QUERY", 2)
    stats = kling_key_conn.emulator.stats
    before = stats.by_route[TASKS]

    async def read() -> list[tuple[int, list[tuple[str, Any]]]]:
        seen = []
        async for answered in hook.aiter_task_entries([ids[0], ids[1], ids[2], ids[0], "raw-3", "gone"]):
            seen.append((stats.by_route[TASKS] - before, answered))
        return seen

    seen = hook.run_sync(read)
    # Five ids (ids[0] once) as task ids in batches of 2, then the two not found as external ids.
    assert [calls for calls, _ in seen] == [1, 2, 3, 4]
    pairs = [pair for _, answered in seen for pair in answered]
    assert [ident for ident, _ in pairs] == [ids[0], ids[1], ids[2], "raw-3"]
    assert all(isinstance(entry, dict) and "status" in entry for _, entry in pairs)  # not parsed
    assert pairs[-1][1]["id"] == ids[3] and pairs[-1][1]["external_id"] == "raw-3"


def test_a_jwt_connection_is_refused_before_anything_is_sent(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))  # access key + secret key
    hook = KlingHook()
    for call in (
        lambda: hook.submit_task("text-to-video", t2v("jwt-1")),
        lambda: hook.get_task("omni-video", "123"),
        lambda: hook.find_task("motion-control", "jwt-1"),
        lambda: hook.get_tasks(["123"]),
    ):
        with pytest.raises(exc.KlingValidationError) as error:
            call()
        text = str(error.value)
        assert "API key only" in text and "kling_default" in text
        assert "'API key (or legacy secret key)'" in text and "'Access key (legacy JWT)'" in text
    assert emulator.emulator.stats.requests == 0
    assert emulator.emulator.store.tasks == {}
    # The same connection still works for the legacy design.
    assert hook.find_task("text2video", "jwt-1") is None


def test_the_new_design_has_no_page_list(kling_key_conn: EmulatorServer) -> None:
    with pytest.raises(exc.KlingValidationError, match="no page list; use aget_tasks"):
        KlingHook().list_tasks("text-to-video")
    assert kling_key_conn.emulator.stats.requests == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault("error", code=5000, method="POST", after=True),
        Fault("body", body=EMPTY_BODY, method="POST", after=True),
        Fault("body", body=MALFORMED_JSON_BODY, method="POST", after=True),
        Fault("reset_after", method="POST"),
    ],
    ids=["5xx-after-create", "empty-after-create", "malformed-after-create", "reset-after"],
)
def test_an_unknown_submit_outcome_reattaches_by_external_id_not_a_second_task(
    fault: Fault, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url, mode="key"))
    emulator.config.inject(fault)
    hook = KlingHook(retry=RetryPolicy(max_retries=2, min_wait=0.01, max_wait=0.01))
    task = hook.submit_task("text-to-video", t2v("nd-unknown-outcome"))
    stats = emulator.emulator.stats
    assert stats.by_route[CREATE_T2V] == 1  # the look-up found it: no second POST
    assert list(emulator.emulator.store.tasks) == [task.task_id]
    assert task.external_task_id == "nd-unknown-outcome"


# ---------------------------------------------------------------------------- POST /tasks


def test_the_cursor_list_pages_through_every_new_family_newest_first(kling_key_conn: EmulatorServer) -> None:
    hook = KlingHook()
    ids = submit(hook, 5, prefix="listed")
    seen: list[str] = []
    page = hook.list_new_tasks(limit=2)
    assert page.count == 5 and page.has_more and page.next_cursor
    while True:
        seen += [t.task_id for t in page.tasks]
        assert all(t.api_design == "new" for t in page.tasks)
        if not page.has_more:
            break
        page = hook.list_new_tasks(limit=2, cursor=page.next_cursor)
    assert seen == ids[::-1]
    assert kling_key_conn.emulator.stats.by_route["POST /tasks"] == 3


def test_the_cursor_list_filters_by_status_and_checks_its_arguments(kling_key_conn: EmulatorServer) -> None:
    hook = KlingHook()
    submit(hook, 2, prefix="filtered")
    assert hook.list_new_tasks(statuses=["failed"]).tasks == []
    requests_before = kling_key_conn.emulator.stats.requests
    with pytest.raises(exc.KlingValidationError, match="limit: must be an integer from 1 to 500"):
        hook.list_new_tasks(limit=501)
    with pytest.raises(exc.KlingValidationError, match="statuses: must be among"):
        hook.list_new_tasks(statuses=["succeed"])  # the legacy spelling
    assert kling_key_conn.emulator.stats.requests == requests_before
