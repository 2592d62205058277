"""A sleeping wait is woken when the poller sees its task change (or a heartbeat is due), not every round.

Both designs: legacy waits (``TaskPoller``, list pages) and new-design ones (``TasksPoller``,
batched ``GET /tasks``) are equally thin.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.api.tasks import KlingTask
from airflow_provider_kling.execution import polling, tasks_poller
from airflow_provider_kling.execution.polling import TaskPoller, wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.execution.tasks_poller import TasksPoller
from airflow_provider_kling.hooks import new_design
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.shared import shared_hook
from airflow_provider_kling.hooks.transport import shared_session_scope
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import conn_json, next_event

KIND = "video-to-audio"
NEW_KIND = "text-to-video"  # new design: every family is read back through GET /tasks
POLL = 0.2
BOTH_DESIGNS = pytest.mark.parametrize("kind", [KIND, NEW_KIND])


class Lines:
    """A logger that keeps its info lines (what a task log would show)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args if args else msg)

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append("WARNING " + (msg % args if args else msg))


def submit(n: int, kind: str = KIND) -> list[str]:
    hook = KlingHook()

    async def submit_all() -> list[str]:
        if kind == NEW_KIND:
            payload: Any = {"model_name": "kling-3.0-turbo", "prompt": "A kite over the sea"}
        else:
            payload = VideoToAudioRequest.build(video_id="825406034503692376")
        tasks = await asyncio.gather(*(hook.asubmit_task(kind, payload) for _ in range(n)))
        return [t.task_id for t in tasks]

    return hook.run_sync(submit_all)


def emulator_for(kind: str, request: pytest.FixtureRequest) -> EmulatorServer:
    """``kling_default`` on the emulator: JWT for the legacy design, an API key for the new one."""
    server: EmulatorServer = request.getfixturevalue("kling_key_conn" if kind == NEW_KIND else "kling_conn")
    return server


def poller_of(kind: str) -> TaskPoller | TasksPoller:
    hook = shared_hook("kling_default")
    return TasksPoller.shared(hook) if kind == NEW_KIND else TaskPoller.shared(hook, kind, POLL)


async def wait(ident: str, kind: str, log: Lines, heartbeat: float = 60.0) -> str:
    outcome = await wait_for_task(
        shared_hook("kling_default"),
        kind,
        ident,
        poll_interval=POLL,
        deadline=None,
        progress=WaitProgress(kind, ident, last_status="submitted", heartbeat=heartbeat),
        log=log,
    )
    return outcome.status.value


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


@BOTH_DESIGNS
def test_a_heartbeat_still_reaches_the_task_log_while_nothing_changes(
    kind: str, request: pytest.FixtureRequest
) -> None:
    server = emulator_for(kind, request)
    server.config.submitted_seconds = 0.0
    server.config.processing_seconds = 2.5
    task_ids = submit(4, kind)
    logs = {t: Lines() for t in task_ids}

    async def main() -> tuple[list[str], TaskPoller | TasksPoller]:
        async with shared_session_scope():  # as the trigger does: the session closes with the last wait
            statuses = await asyncio.gather(*(wait(t, kind, logs[t], heartbeat=0.7) for t in task_ids))
        return statuses, poller_of(kind)

    statuses, poller = asyncio.run(main())

    assert statuses == ["success"] * 4
    for ident, log in logs.items():
        still = [line for line in log.lines if "still processing" in line]
        assert len(still) >= 2, log.lines  # ~2.5 s of processing, a heartbeat every 0.7 s
        assert log.lines[0].startswith(f"Kling {kind} task {ident}: submitted -> processing")
        assert "processing -> succeed" in log.lines[-1]
    heartbeats = sum(1 for log in logs.values() for line in log.lines if "still" in line)
    # Woken for the two changes and each heartbeat; far fewer than one wake-up per wait per round.
    assert poller.wakeups == 2 * 4 + heartbeats
    assert poller.wakeups < poller.rounds * 4 / 2


@BOTH_DESIGNS
def test_a_rounds_finished_tasks_reach_their_waits_page_by_page(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands finishing in one round are never all held parsed: each page's (each GET /tasks
    batch's) waits run before the next is read (2 here; Kling's 500 rows, or 100 ids, on a triggerer)."""
    monkeypatch.setattr(polling, "LIST_PAGE_SIZE", 2)
    monkeypatch.setattr(new_design, "MAX_IDS_PER_QUERY", 2)
    server = emulator_for(kind, request)
    server.config.submitted_seconds = 0.0
    server.config.processing_seconds = 0.0
    task_ids = submit(12, kind)
    route = "GET /tasks" if kind == NEW_KIND else f"GET {get_kind(kind).path}"
    before = server.emulator.stats.by_route[route]
    reads_seen_at_wake: list[int] = []

    async def wait_one(ident: str) -> str:
        status = await wait(ident, kind, Lines())
        reads_seen_at_wake.append(server.emulator.stats.by_route[route] - before)
        return status

    async def main() -> list[str]:
        async with shared_session_scope():
            return await asyncio.gather(*(wait_one(t) for t in task_ids))

    assert asyncio.run(main()) == ["success"] * 12
    # One round: six GET /tasks batches, or five list pages (the last two ids, fewer than
    # LIST_BATCH_THRESHOLD, one by one); the first ones' waits had their task before the third read.
    assert max(reads_seen_at_wake) == (6 if kind == NEW_KIND else 5)
    assert min(reads_seen_at_wake) < 3, reads_seen_at_wake


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

    async def main() -> list[str]:
        async with shared_session_scope():
            return await asyncio.gather(*(wait(t, KIND, Lines()) for t in waited))

    singles_before = stats.by_route[f"GET {get_kind(KIND).path}/{{ident}}"]
    assert asyncio.run(main()) == ["success"] * 6
    assert stats.by_route[f"GET {get_kind(KIND).path}/{{ident}}"] - singles_before <= 3  # < threshold
    assert stats.by_route[f"GET {get_kind(KIND).path}"] >= 6  # the pages down to the waited tasks


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the GET /tasks entries a TasksPoller round parsed (a spy: parsing runs as is)."""
    seen: list[str] = []
    original = tasks_poller.parse_task

    def spy(data: Any, what: str = "task") -> KlingTask:
        task = original(data, what)
        seen.append(task.task_id)
        return task

    monkeypatch.setattr(tasks_poller, "parse_task", spy)
    return seen


def test_a_new_design_wait_is_woken_and_parsed_once_per_status_change_not_once_per_round(
    kling_key_conn: EmulatorServer, parses: list[str]
) -> None:
    kling_key_conn.config.submitted_seconds = 0.0
    kling_key_conn.config.processing_seconds = 2.0
    n = 5
    task_ids = submit(n, NEW_KIND)

    async def main() -> tuple[list[dict], TaskPoller | TasksPoller]:
        triggers = [
            KlingTaskTrigger(kling_task_id=t, task_kind=NEW_KIND, poll_interval=POLL, last_status="submitted")
            for t in task_ids
        ]
        events = await asyncio.gather(*(next_event(t) for t in triggers))
        return events, poller_of(NEW_KIND)

    events, poller = asyncio.run(main())

    assert [e["status"] for e in events] == ["success"] * n
    assert all(e["task"]["api_design"] == "new" for e in events)
    assert poller.rounds >= 6  # the tasks ran ~2 s at a 0.2 s poll
    # Two wake-ups per wait (-> processing, -> succeed) whatever the rounds; an entry that wakes
    # nobody is not even parsed.
    assert poller.wakeups == 2 * n
    assert sorted(parses) == sorted(task_ids * 2)


def test_an_unknown_new_design_id_among_known_ones_fails_only_its_own_wait(
    kling_key_conn: EmulatorServer,
) -> None:
    kling_key_conn.config.submitted_seconds = 0.0
    kling_key_conn.config.processing_seconds = 0.5
    [known] = submit(1, NEW_KIND)

    async def main() -> list[dict]:
        triggers = [
            KlingTaskTrigger(kling_task_id=known, task_kind=NEW_KIND, poll_interval=POLL),
            KlingTaskTrigger(kling_task_id="no-such-task", task_kind=NEW_KIND, poll_interval=POLL),
        ]
        return await asyncio.gather(*(next_event(t) for t in triggers))

    good, bad = asyncio.run(main())
    assert good["status"] == "success" and good["task"]["task_id"] == known
    assert bad["status"] == "error" and "does not know task 'no-such-task'" in bad["message"]


def test_a_failed_get_tasks_batch_fails_only_the_waits_not_yet_handed_their_task(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round's first batch answers (its waits finish at once); its second gets a 5xx: only that
    batch's waits count a failed check, and the next round finishes them."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url, mode="key", extra={"max_retries": 0})
    )
    monkeypatch.setattr(new_design, "MAX_IDS_PER_QUERY", 2)
    emulator.config.submitted_seconds = 0.0
    emulator.config.processing_seconds = 0.0
    task_ids = submit(4, NEW_KIND)  # batches of a round: task_ids[:2], task_ids[2:]
    # The next GET (the first batch) is answered as is ("slow" by 0 s), the one after gets a 500.
    emulator.config.inject(Fault("slow", delay=0.0, method="GET"), Fault("error", code=5000, method="GET"))
    logs = {t: Lines() for t in task_ids}

    async def main() -> list[str]:
        async with shared_session_scope():
            return await asyncio.gather(*(wait(t, NEW_KIND, logs[t]) for t in task_ids))

    assert asyncio.run(main()) == ["success"] * 4
    warned = [t for t in task_ids if any(line.startswith("WARNING") for line in logs[t].lines)]
    assert warned == task_ids[2:], {t: logs[t].lines for t in task_ids}
