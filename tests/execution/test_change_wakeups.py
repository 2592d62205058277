"""A sleeping wait is woken when the poller sees its task change (or a heartbeat is due), not every round."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.execution import polling
from airflow_provider_kling.execution.polling import TaskPoller, wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.shared import shared_hook
from airflow_provider_kling.hooks.transport import shared_session_scope
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import next_event

KIND = "video-to-audio"
POLL = 0.2


class Lines:
    """A logger that keeps its info lines (what a task log would show)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args if args else msg)

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append("WARNING " + (msg % args if args else msg))


def submit(n: int) -> list[str]:
    hook = KlingHook()

    async def submit_all() -> list[str]:
        request = VideoToAudioRequest.build(video_id="825406034503692376")
        tasks = await asyncio.gather(*(hook.asubmit_task(KIND, request) for _ in range(n)))
        return [t.task_id for t in tasks]

    return hook.run_sync(submit_all)


def test_each_wait_is_woken_once_per_status_change_not_once_per_round(kling_conn: EmulatorServer) -> None:
    """Through the list (5 waits) and one by one (2 waits): rounds many, wake-ups two per task."""
    kling_conn.config.submitted_seconds = 0.0
    kling_conn.config.processing_seconds = 2.0
    for n in (5, 2):
        task_ids = submit(n)

        async def main(task_ids: list[str] = task_ids) -> tuple[list[dict], TaskPoller]:
            triggers = [
                KlingTaskTrigger(kling_task_id=t, poll_interval=POLL, last_status="submitted")
                for t in task_ids
            ]
            events = await asyncio.gather(*(next_event(t) for t in triggers))
            return events, TaskPoller.shared(shared_hook("kling_default"), KIND, POLL)

        events, poller = asyncio.run(main())

        assert [e["status"] for e in events] == ["success"] * n
        assert poller.rounds >= 6  # the tasks ran ~2 s at a 0.2 s poll
        # submitted -> processing, processing -> succeed: two wake-ups per wait, whatever the rounds.
        assert poller.wakeups == 2 * n


def test_a_heartbeat_still_reaches_the_task_log_while_nothing_changes(kling_conn: EmulatorServer) -> None:
    kling_conn.config.submitted_seconds = 0.0
    kling_conn.config.processing_seconds = 2.5
    task_ids = submit(4)
    logs = {t: Lines() for t in task_ids}

    async def wait(ident: str) -> str:
        progress = WaitProgress(KIND, ident, last_status="submitted", heartbeat=0.7)
        outcome = await wait_for_task(
            shared_hook("kling_default"),
            KIND,
            ident,
            poll_interval=POLL,
            deadline=None,
            progress=progress,
            log=logs[ident],
        )
        return outcome.status.value

    async def main() -> tuple[list[str], TaskPoller]:
        async with shared_session_scope():  # as the trigger does: the session closes with the last wait
            statuses = await asyncio.gather(*(wait(t) for t in task_ids))
        return statuses, TaskPoller.shared(shared_hook("kling_default"), KIND, POLL)

    statuses, poller = asyncio.run(main())

    assert statuses == ["success"] * 4
    for ident, log in logs.items():
        still = [line for line in log.lines if "still processing" in line]
        assert len(still) >= 2, log.lines  # ~2.5 s of processing, a heartbeat every 0.7 s
        assert log.lines[0].startswith(f"Kling {KIND} task {ident}: submitted -> processing")
        assert "processing -> succeed" in log.lines[-1]
    heartbeats = sum(1 for log in logs.values() for line in log.lines if "still" in line)
    # Woken for the two changes and each heartbeat; far fewer than one wake-up per wait per round.
    assert poller.wakeups == 2 * 4 + heartbeats
    assert poller.wakeups < poller.rounds * 4 / 2


def test_a_rounds_finished_tasks_reach_their_waits_page_by_page(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands finishing in one round are never all held parsed: each page's waits run before
    the next page is read (pages of 2 here, Kling's 500 on a triggerer)."""
    monkeypatch.setattr(polling, "LIST_PAGE_SIZE", 2)
    kling_conn.config.submitted_seconds = 0.0
    kling_conn.config.processing_seconds = 0.0
    task_ids = submit(12)
    list_route = f"GET {get_kind(KIND).path}"
    lists_seen_at_wake: list[int] = []

    async def wait(ident: str) -> str:
        outcome = await wait_for_task(
            shared_hook("kling_default"),
            KIND,
            ident,
            poll_interval=POLL,
            deadline=None,
            progress=WaitProgress(KIND, ident, last_status="submitted"),
            log=Lines(),
        )
        lists_seen_at_wake.append(kling_conn.emulator.stats.by_route[list_route])
        return outcome.status.value

    async def main() -> list[str]:
        async with shared_session_scope():
            return await asyncio.gather(*(wait(t) for t in task_ids))

    assert asyncio.run(main()) == ["success"] * 12
    # One round read five pages (the last two ids, fewer than LIST_BATCH_THRESHOLD, one by one);
    # the first page's waits had their task before the third page was read.
    assert max(lists_seen_at_wake) == 5
    assert min(lists_seen_at_wake) < 3, lists_seen_at_wake


def test_waits_on_older_tasks_are_found_deeper_in_the_list_not_one_by_one(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kling lists the newest first: waits on tasks behind many newer ones (a triggerer starting
    thousands of waits, an account busy with other work) read a few more pages, not a GET each."""
    monkeypatch.setattr(polling, "LIST_PAGE_SIZE", 2)
    kling_conn.config.submitted_seconds = 0.0
    kling_conn.config.processing_seconds = 0.0
    waited = submit(6)
    submit(10)  # newer tasks nobody here waits for: five pages in front of the waited ones
    stats = kling_conn.emulator.stats

    async def wait(ident: str) -> str:
        outcome = await wait_for_task(
            shared_hook("kling_default"),
            KIND,
            ident,
            poll_interval=POLL,
            deadline=None,
            progress=WaitProgress(KIND, ident, last_status="submitted"),
            log=Lines(),
        )
        return outcome.status.value

    async def main() -> list[str]:
        async with shared_session_scope():
            return await asyncio.gather(*(wait(t) for t in waited))

    singles_before = stats.by_route[f"GET {get_kind(KIND).path}/{{ident}}"]
    assert asyncio.run(main()) == ["success"] * 6
    assert stats.by_route[f"GET {get_kind(KIND).path}/{{ident}}"] - singles_before <= 3  # < threshold
    assert stats.by_route[f"GET {get_kind(KIND).path}"] >= 6  # the pages down to the waited tasks
