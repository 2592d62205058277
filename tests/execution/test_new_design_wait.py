"""New-design waits over HTTP: one batched GET /tasks poller per connection, the 1303 line, re-attach."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

import pytest

from airflow_provider_kling.execution import tasks_poller
from airflow_provider_kling.execution.events import WaitStatus
from airflow_provider_kling.execution.polling import wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.execution.tasks_poller import TasksPoller
from airflow_provider_kling.hooks import new_design
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, first_event, next_event

TASKS = "GET /tasks"
IMAGE = "https://cdn.example/first-frame.png"
SAMPLE_VIDEO = "825406034503692376"


def t2v(external_task_id: str) -> dict[str, Any]:
    return {
        "model_name": "kling-3.0-turbo",
        "prompt": "A kite over the sea",
        "external_task_id": external_task_id,
    }


def i2v(external_task_id: str) -> dict[str, Any]:
    contents = [{"type": "first_frame", "url": IMAGE}, {"type": "prompt", "text": "The kite climbs"}]
    return {"model_name": "kling-3.0-turbo", "contents": contents, "external_task_id": external_task_id}


def submit(payloads: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    hook = KlingHook()

    async def all_of_them() -> list[str]:
        return [(await hook.asubmit_task(kind, payload)).task_id for kind, payload in payloads]

    return hook.run_sync(all_of_them)


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids each TasksPoller round asked for (a spy: the round runs as is)."""
    seen: list[list[str]] = []
    original = TasksPoller._poll

    async def spy(self: TasksPoller, idents: Iterable[str]) -> Any:
        wanted = list(idents)
        seen.append(wanted)
        return await original(self, wanted)

    monkeypatch.setattr(TasksPoller, "_poll", spy)
    return seen


def test_waits_of_every_new_family_share_one_batched_get_tasks_per_round(
    kling_key_conn: EmulatorServer, rounds: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    kling_key_conn.config.processing_seconds = 1.0
    monkeypatch.setattr(new_design, "MAX_IDS_PER_QUERY", 8)
    ids = submit(
        [("text-to-video", t2v(f"t-{i}")) for i in range(10)]
        + [("image-to-video", i2v(f"i-{i}")) for i in range(10)]
    )
    stats = kling_key_conn.emulator.stats
    before = stats.by_route[TASKS]
    kinds = ["text-to-video"] * 10 + ["image-to-video"] * 10

    async def triggerer() -> tuple[list[dict[str, Any]], int]:
        triggers = [
            KlingTaskTrigger(kling_task_id=t, task_kind=k, poll_interval=0.2)
            for t, k in zip(ids, kinds, strict=True)
        ]
        events = await asyncio.gather(*(next_event(t) for t in triggers))
        pollers = tasks_poller._pollers._values(None)
        return events, len(pollers)

    events, pollers = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success"] * 20
    assert all(e["task"]["api_design"] == "new" and e["task"]["videos"][0]["url"] for e in events)
    assert pollers == 1  # both families, one connection: one poller
    assert len(rounds) >= 3 and len(rounds[0]) == 20
    calls = stats.by_route[TASKS] - before
    # One GET /tasks per batch of 8 ids per round, not one per wait: 20 waits -> 3 per round.
    assert calls == sum(math.ceil(len(r) / 8) for r in rounds)
    assert calls < sum(len(r) for r in rounds) / 2


def test_external_ids_not_found_as_task_ids_cost_one_more_batched_call(
    kling_key_conn: EmulatorServer, rounds: list[list[str]]
) -> None:
    kling_key_conn.config.processing_seconds = 1.0
    ids = submit([("text-to-video", t2v(f"ext-{i}")) for i in range(6)])
    stats = kling_key_conn.emulator.stats
    before = stats.by_route[TASKS]
    waits = [*ids[:3], "ext-3", "ext-4", "ext-5"]  # a sensor may wait on an external id

    async def triggerer() -> list[dict[str, Any]]:
        triggers = [
            KlingTaskTrigger(
                kling_task_id=w, task_kind="omni-video", poll_interval=0.2, wait_for_unknown=True
            )
            for w in waits
        ]
        return await asyncio.gather(*(next_event(t) for t in triggers))

    events = asyncio.run(triggerer())
    assert [e["task"]["task_id"] for e in events] == ids
    expected = sum(1 + any(i.startswith("ext-") for i in r) for r in rounds)
    assert stats.by_route[TASKS] - before == expected


def test_waits_with_different_intervals_share_the_poller_and_keep_their_pace(
    kling_key_conn: EmulatorServer, rounds: list[list[str]]
) -> None:
    kling_key_conn.config.processing_seconds = 2.5
    fast, slow = submit([("text-to-video", t2v("fast")), ("text-to-video", t2v("slow"))])

    async def triggerer() -> list[dict[str, Any]]:
        return await asyncio.gather(
            next_event(KlingTaskTrigger(kling_task_id=fast, task_kind="text-to-video", poll_interval=0.2)),
            next_event(KlingTaskTrigger(kling_task_id=slow, task_kind="text-to-video", poll_interval=1.0)),
        )

    events = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success", "success"]
    fast_rounds = sum(fast in r for r in rounds)
    slow_rounds = sum(slow in r for r in rounds)
    last_fast = max(i for i, r in enumerate(rounds) if fast in r)
    assert all(fast in r for r in rounds[:last_fast])  # while it waited, every round was the fast one's
    assert 2 <= slow_rounds <= 5 and fast_rounds >= 2 * slow_rounds


def test_a_blocking_wait_reads_get_tasks(kling_key_conn: EmulatorServer) -> None:
    [task_id] = submit([("image-to-video", i2v("blocking"))])
    hook = KlingHook()
    progress = WaitProgress("image-to-video", task_id)
    outcome = hook.run_sync(
        lambda: wait_for_task(
            hook,
            "image-to-video",
            task_id,
            poll_interval=0.1,
            deadline=time.time() + 30,
            progress=progress,
            log=logging.getLogger(__name__),
        )
    )
    assert outcome.status is WaitStatus.SUCCESS
    result = outcome.task
    assert result["task_id"] == task_id and result["status"] == "succeed" and result["videos"]
    assert kling_key_conn.emulator.stats.by_route[TASKS] >= 1


def test_the_1303_line_holds_new_and_legacy_submits_and_pays_each_once(
    kling_key_conn: EmulatorServer,
) -> None:
    config = kling_key_conn.emulator.config
    config.max_concurrent_tasks = 2
    config.submitted_seconds = 0.1
    config.processing_seconds = 0.5
    n = 8

    async def triggerer() -> list[dict[str, Any]]:
        triggers = [
            KlingSubmitTrigger(
                task_kind="text-to-video" if i % 2 else "video-to-audio",
                payload=t2v(f"line-{i}")
                if i % 2
                else {"video_id": SAMPLE_VIDEO, "external_task_id": f"line-{i}"},
                poll_interval=0.1,
                deadline=time.time() + 120,
            )
            for i in range(n)
        ]
        return await asyncio.gather(*(next_event(t) for t in triggers))

    events = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success"] * n
    assert {e["task"]["api_design"] for e in events} == {"new", "legacy"}
    stats = kling_key_conn.emulator.stats
    assert stats.submits == n == len(kling_key_conn.emulator.store.tasks)
    assert stats.peak_running == 2
    assert stats.by_route["POST /text-to-video/{model}"] >= n // 2


def test_a_restarted_submit_trigger_reattaches_instead_of_paying_twice(
    kling_key_conn: EmulatorServer,
) -> None:
    kwargs = KlingSubmitTrigger(
        task_kind="text-to-video", payload=t2v("restarted"), poll_interval=0.1, deadline=time.time() + 60
    ).serialize()[1]
    first = first_event(KlingSubmitTrigger(**kwargs))
    again = first_event(KlingSubmitTrigger(**kwargs))  # the triggerer died after the submit
    assert first["status"] == again["status"] == "success"
    assert again["task"]["task_id"] == first["task"]["task_id"]
    assert kling_key_conn.emulator.stats.submits == 1


def test_new_design_waits_after_a_key_rotation_use_the_new_key(
    kling_key_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waits share a hook per connection: a refused key re-reads the connection and retries once."""
    kling_key_conn.config.processing_seconds = 0.5
    first, second = submit([("text-to-video", t2v("rot-1")), ("text-to-video", t2v("rot-2"))])

    async def main() -> list[dict]:
        before = await next_event(KlingTaskTrigger(first, "text-to-video", poll_interval=0.1))
        kling_key_conn.config.api_keys = {"rotated-key"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_KLING_DEFAULT", conn_json(kling_key_conn.url, mode="key", password="rotated-key")
        )
        after = await next_event(KlingTaskTrigger(second, "text-to-video", poll_interval=0.1))
        return [before, after]

    assert [e["status"] for e in asyncio.run(main())] == ["success", "success"]
