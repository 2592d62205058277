"""The chaos run on the production-shaped stack (scripts/stack.sh), as its own CI step.

``pytest -m chaos tests/stack`` (see .ci/run): PostgreSQL + Redis + CeleryExecutor with two
workers and two triggerers, ``kling_prompt_fanout`` under the fault run's emulator rates, while
a triggerer and a worker are SIGKILLed, PostgreSQL restarts and Kling goes down for a minute.
Every assertion reads Airflow's REST API or the emulator's stats (no model). Sizes come from
the environment so CI can run a smaller N: KLING_CHAOS_PROMPTS (16), KLING_CHAOS_KILL_AT (8).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.chaos_run import Report, Settings, chaos_run

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    if not shutil.which("bash"):
        pytest.fail("the chaos run needs bash (scripts/stack.sh)")
    settings = Settings(
        prompts=int(os.environ.get("KLING_CHAOS_PROMPTS", "16")),
        kill_triggerer_at=int(os.environ.get("KLING_CHAOS_KILL_AT", "8")),
        processing_seconds=float(os.environ.get("KLING_CHAOS_PROCESSING_SECONDS", "60")),
        stack_dir=Path(tmp_path_factory.mktemp("chaos-stack")),
        clean_stack=True,  # PostgreSQL's data may live outside (pytest's temp root is 0700)
    )
    result = chaos_run(settings)
    print("\n".join(result.lines()))
    return result


def test_every_run_succeeds_and_no_task_instance_ends_failed(report: Report) -> None:
    assert set(report.runs.values()) == {"success"}, report.runs
    assert report.failed_tis == []
    assert report.unfinished_tis == []


def test_all_four_disruptions_happened_during_the_run(report: Report) -> None:
    assert set(report.disruptions) == {"triggerer_kill", "worker_kill", "postgres_restart", "kling_outage"}
    assert report.disruptions["triggerer_kill"]["held"] >= 1
    assert report.disruptions["worker_kill"]["task_pid"] > 0
    outage = report.disruptions["kling_outage"]
    assert outage["tasks_after"] >= outage["tasks_before"]
    # The outage hit waits in flight (the run refuses to start it on none: proving nothing).
    assert outage["deferred_at_start"] >= 1, outage


def test_each_kling_task_was_submitted_once(report: Report) -> None:
    assert report.kling_tis == 2 * report.prompts
    assert report.submits == report.distinct_external_ids == report.kling_tasks_listed
    assert report.external_bases_missing == 0
    # The only extra submits: one new task for each that ended "failed" on Kling's side.
    assert report.submits == report.kling_tis + report.kling_failed


def test_tries_are_reported_for_every_task(report: Report) -> None:
    counted = sum(n for by_try in report.tries.values() for n in by_try.values())
    assert counted == report.tis
    # The task whose worker was killed inside its submit needed another try.
    assert any(t > 1 for t in report.tries["make_video"]) or any(t > 1 for t in report.tries["make_audio"])


def test_every_published_file_plays(report: Report) -> None:
    assert report.published >= 4 * report.prompts  # video, mp3, wav, muxed mp4 per prompt
    assert report.unplayable == []
