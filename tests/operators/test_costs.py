"""What Kling costs, through the emulator over HTTP: deductions, packs, the floor, 1102."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_kling.api.account import check_floor, parse_resource_packs
from airflow_provider_kling.config import resource_packs_cache_dir
from airflow_provider_kling.exceptions import (
    KlingAccountError,
    KlingBudgetError,
    KlingInvalidRequestError,
    KlingValidationError,
)
from airflow_provider_kling.execution.reporting import describe_cost
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.packs_cache import clear_process_cache
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from kling_emulator.billing import LIST_PRICE_PER_UNIT, QUOTA_SHARE, ResourcePack
from kling_emulator.cli import build_parser, config_from_args
from kling_emulator.server import EmulatorServer
from kling_emulator.state import SAMPLE_VIDEO_SECONDS, Fault
from tests.conftest import load_fixture
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import published_events
from tests.operators.test_operator import SAMPLE_VIDEO, RecordingTI

COSTS_ROUTE = "GET /account/costs"
SUBMIT_ROUTE = "POST /v1/audio/video-to-audio"
V2A_UNITS = round(SAMPLE_VIDEO_SECONDS * 0.2, 2)  # the emulator's made-up price: 0.2 units per second


@pytest.fixture(autouse=True)
def fresh_packs_cache() -> Iterator[None]:
    """Cached answers are keyed by base URL: a later emulator on a reused port must not see them."""

    def clear() -> None:
        clear_process_cache()
        shutil.rmtree(resource_packs_cache_dir(), ignore_errors=True)

    clear()
    yield
    clear()


def packs(server: EmulatorServer, *entries: dict[str, Any]) -> None:
    server.config.resource_packs = [ResourcePack.from_dict(e) for e in entries]


def v2a(**kwargs: Any) -> VideoToAudioOperator:
    return VideoToAudioOperator(
        task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, deferrable=False, **kwargs
    )


def submits(server: EmulatorServer) -> int:
    """Submit *requests* the emulator received (refused ones included)."""
    return server.emulator.stats.by_route[SUBMIT_ROUTE]


# ---------------------------------------------------------------------- the emulator


def test_account_costs_answers_the_contract_fields(kling_conn: EmulatorServer) -> None:
    fixture = load_fixture("account-costs.json")["data"]
    answer = KlingHook().get_resource_packs(max_age=0)
    [pack] = answer.packs
    assert pack.is_online and pack.remaining_quantity == pack.total_quantity == 1_000_000
    with urllib.request.urlopen(  # the raw body: every documented field, nothing renamed
        urllib.request.Request(
            f"{kling_conn.url}/account/costs?start_time=0&end_time=99999999999999",
            headers={"Authorization": f"Bearer {next(iter(kling_conn.config.api_keys))}"},
        )
    ) as response:
        body = json.load(response)
    assert body["data"].keys() == fixture.keys()
    assert body["data"]["resource_pack_subscribe_infos"][0].keys() == (
        fixture["resource_pack_subscribe_infos"][0].keys()
    )


def test_account_costs_requires_the_time_range(kling_conn: EmulatorServer) -> None:
    hook = KlingHook()
    with pytest.raises(KlingInvalidRequestError, match="start_time is required"):
        hook.run_sync(lambda: hook.arequest("GET", "/account/costs", params={"end_time": 1}))


def test_the_fixture_parses_and_only_online_packs_count() -> None:
    answer = parse_resource_packs(load_fixture("account-costs.json")["data"])
    assert [p.status for p in answer.packs] == ["online", "runOut"]
    assert answer.online_remaining == 640.0
    assert check_floor(answer, 640) == 640.0
    with pytest.raises(KlingBudgetError):
        check_floor(answer, 640.5)


def test_the_cost_line_and_the_floor_say_one_unit_not_one_units() -> None:
    assert describe_cost({"credits": 1.0}) == "1 unit"
    assert describe_cost({"credits": 2}) == "2 units"
    assert describe_cost({"credits": 0.5}) == "0.5 units"
    one_left = parse_resource_packs(
        {
            "resource_pack_subscribe_infos": [
                {"resource_pack_name": "P", "remaining_quantity": 1, "status": "online"}
            ]
        }
    )
    with pytest.raises(KlingBudgetError, match=r"Budget floor not met: 1 unit remains in the online"):
        check_floor(one_left, 2)


def test_finished_tasks_draw_the_packs_down_then_a_submit_gets_1102(kling_conn: EmulatorServer) -> None:
    packs(
        kling_conn,
        {"name": "Small", "total_quantity": 2 * V2A_UNITS},  # two tasks, exactly
        {"name": "Gone", "total_quantity": 9, "status": "expired"},
    )
    hook = KlingHook()
    first = v2a().execute({"ti": RecordingTI()})
    assert first["credits"] == V2A_UNITS
    left = {p.resource_pack_name: p for p in hook.get_resource_packs(max_age=0).packs}
    assert left["Small"].remaining_quantity == pytest.approx(V2A_UNITS)
    assert left["Gone"].remaining_quantity == 9 and left["Gone"].status == "expired"  # not drawn from

    v2a().execute({"ti": RecordingTI(run_id="run-2")})  # costs what is left: the pack runs out
    assert hook.get_resource_packs(max_age=0).online_remaining == 0
    assert [p.status for p in hook.get_resource_packs(max_age=0).packs] == ["runOut", "expired"]
    with pytest.raises(KlingAccountError) as refused:
        v2a().execute({"ti": RecordingTI(run_id="run-3")})
    assert refused.value.code == 1102 and refused.value.http_status == 429
    assert isinstance(refused.value, AirflowFailException)
    assert submits(kling_conn) == 3 and kling_conn.emulator.stats.submits == 2


def test_failed_tasks_are_not_charged(kling_conn: EmulatorServer) -> None:
    packs(kling_conn, {"total_quantity": 10})
    with pytest.raises(Exception, match="Emulated failure"):
        v2a(sound_effect_prompt="[fail]").execute({"ti": RecordingTI()})
    assert KlingHook().get_resource_packs(max_age=0).online_remaining == 10


def test_cli_flags_configure_packs_and_price() -> None:
    args = build_parser().parse_args(
        ["--resource-pack", "Video=1000", "--resource-pack", "Trial=66/0", "--units-per-second", "0.5"]
    )
    config = config_from_args(args)
    assert [(p.name, p.total_quantity, p.remaining) for p in config.resource_packs] == [
        ("Video", 1000, 1000),
        ("Trial", 66, 0),
    ]
    assert config.units_per_second == 0.5
    with pytest.raises(ValueError, match="NAME=TOTAL"):
        ResourcePack.parse("Video=lots")


def test_packs_are_configurable_in_process_over_http(emulator: EmulatorServer) -> None:
    body = json.dumps({"resource_packs": [{"name": "Patched", "total_quantity": 5, "remaining_quantity": 2}]})
    request = urllib.request.Request(
        f"{emulator.root_url}/_emulator/config", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response) == {"ok": True}
    [pack] = emulator.config.resource_packs
    assert (pack.name, pack.remaining) == ("Patched", 2)


# ---------------------------------------------------------------------- the spend, where people look


def test_units_are_in_the_xcom_result_and_the_task_log(
    kling_conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = v2a().execute({"ti": RecordingTI()})
    list_price = V2A_UNITS * LIST_PRICE_PER_UNIT
    assert result["credits"] == V2A_UNITS
    assert result["balance_deduction"] == {
        "quota": f"{list_price * QUOTA_SHARE:.4f}".rstrip("0"),
        "list_price": f"{list_price:.4f}".rstrip("0"),
    }
    json.dumps(result)
    # Airflow's structlog writes the task log lines to stdout here.
    [line] = [line for line in capsys.readouterr().out.splitlines() if " cost " in line]
    assert (
        f"Kling task {result['task_id']} cost {V2A_UNITS:g} units (balance: "
        f"{result['balance_deduction']['quota']} after discount, "
        f"{result['balance_deduction']['list_price']} at list price)"
    ) in line


def test_the_published_asset_carries_the_runs_total(
    airflow_db: Path, kling_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    run = load_dag(airflow_db, "kling_content_pipeline").test(
        run_conf={"prompt": "A kite", "duration": "10", "destination": str(tmp_path)}
    )
    assert run.state == "success"
    [event] = published_events(str(tmp_path))
    # 10 s of video (2 units) plus 10 s of audio for it (2 units); the floor (20) was checked once.
    assert event["credits"] == 4.0
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 1
    assert KlingHook().get_resource_packs(max_age=0).online_remaining == 1_000_000 - 4.0


# ---------------------------------------------------------------------- the floor


def test_the_floor_refuses_before_any_submit_naming_floor_packs_and_lag(kling_conn: EmulatorServer) -> None:
    packs(
        kling_conn,
        {"name": "Video pack", "total_quantity": 100, "remaining_quantity": 3},
        {"name": "Trial", "total_quantity": 66, "remaining_quantity": 0, "status": "expired"},
    )
    with pytest.raises(KlingBudgetError) as refused:
        v2a(min_remaining_units=10).execute({"ti": RecordingTI()})
    message = str(refused.value)
    for shown in (
        "min_remaining_units=10",
        "3 units remain",
        "Video pack: 3 of 100 left (online)",
        "Trial: 0 of 66 left (expired)",
        "lag by up to 12 h",
    ):
        assert shown in message
    assert isinstance(refused.value, AirflowFailException)
    assert submits(kling_conn) == 0


def test_the_floor_refuses_in_a_real_run_without_retries(
    airflow_db: Path, kling_conn: EmulatorServer, tmp_path: Path
) -> None:
    packs(kling_conn, {"total_quantity": 100, "remaining_quantity": 19})  # the example DAG's floor: 20
    run = load_dag(airflow_db, "kling_content_pipeline").test(run_conf={"destination": str(tmp_path)})
    assert run.state == "failed"
    ti = run.get_task_instance("make_video")
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert kling_conn.emulator.stats.by_route["POST /v1/videos/text2video"] == 0


def test_the_floor_passes_and_the_task_runs(kling_conn: EmulatorServer) -> None:
    packs(kling_conn, {"total_quantity": 100, "remaining_quantity": 10})
    result = v2a(min_remaining_units=10).execute({"ti": RecordingTI()})
    assert result["status"] == "succeed"
    assert submits(kling_conn) == 1


def test_floor_from_config_and_zero_turns_it_off(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs(kling_conn, {"total_quantity": 100, "remaining_quantity": 5})
    monkeypatch.setenv("AIRFLOW__KLING__MIN_REMAINING_UNITS", "6")
    with pytest.raises(KlingBudgetError, match="min_remaining_units=6"):
        v2a().execute({"ti": RecordingTI()})
    assert v2a(min_remaining_units=0).execute({"ti": RecordingTI()})["status"] == "succeed"
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 1, "0 must not even read the packs"
    monkeypatch.setenv("AIRFLOW__KLING__MIN_REMAINING_UNITS", "plenty")
    with pytest.raises(KlingValidationError, match=r"\[kling\] min_remaining_units"):
        v2a().execute({"ti": RecordingTI(run_id="run-2")})


def test_bad_floor_arguments_fail_at_parse_time() -> None:
    with pytest.raises(KlingValidationError, match="min_remaining_units: must be a number"):
        v2a(min_remaining_units=-1)
    with pytest.raises(KlingValidationError, match="on_budget_check_error: must be one of"):
        v2a(on_budget_check_error="ignore")


def test_a_failed_packs_call_fails_by_default_and_submits_with_skip(kling_conn: EmulatorServer) -> None:
    # 1201 is not retried: a proxy that does not serve /account/costs answers like this every time.
    kling_conn.config.inject(Fault("error", code=1201, method="GET"))
    with pytest.raises(KlingInvalidRequestError):
        v2a(min_remaining_units=1).execute({"ti": RecordingTI()})
    assert submits(kling_conn) == 0

    kling_conn.config.inject(Fault("error", code=1201, method="GET"))
    result = v2a(min_remaining_units=1, on_budget_check_error="skip").execute({"ti": RecordingTI()})
    assert result["status"] == "succeed" and submits(kling_conn) == 1


def test_below_the_floor_a_retry_still_reattaches_to_its_paid_task(kling_conn: EmulatorServer) -> None:
    first = v2a(wait_for_completion=False).execute({"ti": RecordingTI()})
    packs(kling_conn, {"total_quantity": 100, "remaining_quantity": 0})
    again = v2a(min_remaining_units=10).execute({"ti": RecordingTI()})  # same ids: a later try
    assert again["task_id"] == first["task_id"] and again["status"] == "succeed"
    assert submits(kling_conn) == 1


# ---------------------------------------------------------------------- the cache


def test_mapped_tasks_make_one_packs_call(airflow_db: Path, kling_conn: EmulatorServer) -> None:
    run = load_dag(airflow_db, "kling_costs_mapped").test()
    assert run.state == "success"
    assert kling_conn.emulator.stats.submits == 8
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 1


def test_concurrent_callers_on_loops_and_threads_share_one_call(kling_conn: EmulatorServer) -> None:
    # The one call is slow, so every caller below arrives while it is still in flight.
    kling_conn.config.inject(Fault("slow", delay=0.5, method="GET"))

    async def many_on_one_loop() -> list[float]:
        answers = await asyncio.gather(*(KlingHook().aget_resource_packs() for _ in range(50)))
        return [a.online_remaining for a in answers]

    seen: list[float] = []
    threads = [
        threading.Thread(target=lambda: seen.append(KlingHook().get_resource_packs().online_remaining))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    seen += KlingHook().run_sync(many_on_one_loop)
    for thread in threads:
        thread.join(30)
    assert seen == [1_000_000.0] * 54
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 1


def test_processes_on_one_host_share_one_call(kling_conn: EmulatorServer) -> None:
    """Airflow runs each task instance in a process of its own: the file layer serves them all."""
    kling_conn.config.inject(Fault("slow", delay=1.0, method="GET"))
    code = (
        "from airflow_provider_kling.hooks.kling import KlingHook\n"
        "print(KlingHook().get_resource_packs().online_remaining)"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=os.environ.copy())
        for _ in range(4)
    ]
    try:
        outputs = [w.communicate(timeout=120)[0].decode().split() for w in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
    assert [w.returncode for w in workers] == [0] * 4
    assert [out[-1] for out in outputs] == ["1000000.0"] * 4
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 1


def test_the_cache_expires_and_errors_are_not_cached(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = KlingHook()
    kling_conn.config.inject(Fault("error", code=1201, method="GET"))
    with pytest.raises(KlingInvalidRequestError):
        hook.get_resource_packs()
    hook.get_resource_packs()
    hook.get_resource_packs()
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 2
    monkeypatch.setenv("AIRFLOW__KLING__RESOURCE_PACKS_CACHE_SECONDS", "0")
    hook.get_resource_packs()
    assert kling_conn.emulator.stats.by_route[COSTS_ROUTE] == 3


# ---------------------------------------------------------------------- 1102


def test_1102_ends_the_task_without_retries(airflow_db: Path, kling_conn: EmulatorServer) -> None:
    """``dag.test()`` retries a retryable failure (seen: with a plain error this task ends on try 4
    after 4 submits). A scheduler with workers is not exercised here: that proof belongs to the
    retry tests of the permanent-error work (issue 11).
    """
    packs(kling_conn, {"total_quantity": 10, "remaining_quantity": 0})
    run = load_dag(airflow_db, "kling_costs_no_floor").test()
    assert run.state == "failed"
    ti = run.get_task_instance("video_to_audio")
    assert (ti.state, ti.try_number, ti.max_tries) == ("failed", 1, 3)
    assert submits(kling_conn) == 1  # refused once by Kling, never sent again
