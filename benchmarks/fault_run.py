"""The fault run: many video-to-audio tasks through the operator while the emulator misbehaves.

Blocking operators run on a pool of worker threads (Airflow worker slots); deferrable ones
submit on a worker, then wait as ``KlingTaskTrigger`` s on one event loop (the triggerer),
which is restarted mid-wait: every running trigger is cancelled and re-created from its
serialized kwargs on a fresh loop. An operator that raises is executed again with the same
task-instance ids (an Airflow retry), up to ``retries`` times, unless its error fails without
retry (``AirflowFailException``/``AirflowSensorTimeout``): Airflow's own rule, so a Kling task
that ``failed`` is retried too (and replaced under ``<id>-2``). A share of the prompts carries
the emulator's ``[fail]`` marker: those fail on every resubmission and use up their retries.

The figures (also asserted by ``tests/execution/test_faults.py``):

- duplicate Kling tasks: tasks the emulator created beyond one per derived ``external_task_id``
  (plus the ``-2``, ``-3``... replacements the contract allows after a *failed* task);
- tasks lost: operators that never finished, and Kling tasks no operator accounts for;
- Airflow tasks failed for transient reasons: operators whose final outcome is not a result
  and not Kling's own ``failed``;
- Airflow tasks failed without retry: operators that raised a permanent error (none of the
  injected faults is one, so this stays 0);
- Kling failures reported with Kling's message: operators whose final Kling task failed and
  that raised ``KlingTaskFailedError`` naming that task and its ``task_status_msg``.

Run: ``python -m benchmarks.fault_run --tasks 200 --seed 7`` (``--hook-retries 0 --retries 30``
hands every transient error to the modelled Airflow retries).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

if "AIRFLOW_HOME" not in os.environ:  # a throwaway home when run as a script
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="kling-fault-run-")

from kling_emulator.server import EmulatorServer
from kling_emulator.state import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    SAMPLE_VIDEO_ID,
    EmulatedTask,
    EmulatorConfig,
    FaultRates,
)

DAG_ID = "kling_fault_run"
ALWAYS_FAIL_MARKER = "[fail]"  # the emulator's marker: a task with it in its prompt ends failed
EXTERNAL_ID_BASE = re.compile(r"^(airflow-[0-9a-f]{32})(?:-(\d+))?$")


def default_rates() -> FaultRates:
    """About one API request in five misbehaves; one task in ten fails on Kling's side."""
    return FaultRates(
        server_error=0.03,
        rate_limited=0.03,
        concurrency_limited=0.03,
        reset_before=0.02,
        reset_after=0.02,
        slow=0.02,
        slow_seconds=1.2,
        malformed_json=0.02,
        empty_body=0.02,
        task_failure=0.1,
    )


@dataclass
class Settings:
    tasks: int = 200
    seed: int = 7
    deferrable_share: float = 0.5
    # Prompts with the emulator's "[fail]" marker: every resubmission fails, so their retries run out.
    always_failing_share: float = 0.03
    workers: int = 16  # Airflow worker slots
    retries: int = 10  # Airflow retries per task
    retry_delay: float = 0.3
    triggerer_restarts: int = 2
    poll_interval: float = 0.2
    client_timeout: float = 0.8  # below FaultRates.slow_seconds: slow answers time out
    hook_retries: int = 6
    max_concurrent_tasks: int = 20  # per key -> 1303
    max_requests_per_second: float = 250.0  # per key -> 1302
    submitted_seconds: float = 0.1
    processing_seconds: float = 0.5
    run_timeout: float = 600.0
    rates: FaultRates = field(default_factory=default_rates)


@dataclass
class Spec:
    """One Airflow task instance of the run (its ids stay the same across retries)."""

    index: int
    deferrable: bool
    prompt: str

    @property
    def task_id(self) -> str:
        return f"v2a_{self.index:04d}"

    @property
    def run_id(self) -> str:
        return "manual__fault_run"

    @property
    def always_fails(self) -> bool:
        return ALWAYS_FAIL_MARKER in self.prompt


@dataclass
class Outcome:
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    tries: int = 0


@dataclass
class Report:
    tasks: int
    seconds: float
    duplicates: int
    lost: int
    failed_transient: int
    failed_without_retry: int
    always_failing: int
    always_failing_used_all_tries: int
    kling_failed: int
    kling_failed_reported: int
    succeeded: int
    airflow_retries: int
    resubmitted_after_failure: int
    triggers_restarted: int
    deferrable: int
    kling_tasks_created: int
    requests: int
    faults: dict[str, int]
    limit_refusals: dict[int, int]
    problems: list[str]

    def lines(self) -> list[str]:
        faults = ", ".join(f"{k}: {v}" for k, v in sorted(self.faults.items()))
        return [
            f"Fault run: {self.tasks} video-to-audio tasks ({self.deferrable} deferrable) "
            f"in {self.seconds:.1f}s",
            f"  duplicate Kling tasks created:            {self.duplicates}",
            f"  tasks lost (never finished):              {self.lost}",
            f"  Airflow tasks failed, transient reasons:  {self.failed_transient}",
            f"  Airflow tasks failed without retry:       {self.failed_without_retry}",
            "  always-failing tasks that used every try: "
            f"{self.always_failing_used_all_tries} of {self.always_failing}",
            "  Kling failures reported with its message: "
            f"{self.kling_failed_reported} of {self.kling_failed}",
            f"  succeeded:                                {self.succeeded}",
            f"  Airflow retries (re-executions):          {self.airflow_retries}",
            f"  failed Kling tasks replaced on retry:     {self.resubmitted_after_failure}",
            f"  triggers re-created after a restart:      {self.triggers_restarted}",
            f"  Kling tasks created / API requests:       {self.kling_tasks_created} / {self.requests}",
            f"  faults injected ({sum(self.faults.values())}): {faults}",
            "  refused by the emulator's limits: "
            + ", ".join(f"{code}: {n}" for code, n in sorted(self.limit_refusals.items())),
            *(f"  PROBLEM: {p}" for p in self.problems),
        ]

    @property
    def ok(self) -> bool:
        return (
            self.duplicates == 0
            and self.lost == 0
            and self.failed_transient == 0
            and self.failed_without_retry == 0
            and self.always_failing_used_all_tries == self.always_failing
            and self.kling_failed_reported == self.kling_failed
            and not self.problems
        )


@dataclass
class RecordingTI:
    """The slice of a TaskInstance the operator uses: ids for the external id, xcom_push."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


# ---------------------------------------------------------------------------- the triggerer

EventCallback = Callable[[dict[str, Any] | None, BaseException | None], None]


class Triggerer:
    """Runs triggers on one event loop in its own thread; ``restart`` re-creates them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, EventCallback, asyncio.Task[None]]] = {}
        self._ids = iter(range(10**9))
        self.restarted = 0
        self._start_loop()

    def _start_loop(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="triggerer", daemon=True)
        self.thread.start()

    def add(self, serialized_kwargs: str, callback: EventCallback) -> None:
        """Start a trigger from its serialized kwargs (JSON, as the metadata DB would hold them)."""
        with self._lock:
            ident = next(self._ids)
            self.loop.call_soon_threadsafe(self._spawn, ident, serialized_kwargs, callback)

    @property
    def running(self) -> int:
        return len(self._running)

    def _spawn(self, ident: int, serialized_kwargs: str, callback: EventCallback) -> None:
        # As the triggerer does: the class by its path, then the kwargs the metadata DB holds.
        serialized = json.loads(serialized_kwargs)
        module, _, name = serialized["classpath"].rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**serialized["kwargs"])
        task = self.loop.create_task(self._run(ident, trigger, callback))
        self._running[ident] = (serialized_kwargs, callback, task)

    async def _run(self, ident: int, trigger: Any, callback: EventCallback) -> None:
        try:
            payload: dict[str, Any] | None = None
            async for event in trigger.run():
                payload = event.payload
                break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a trigger crash fails the task instance in Airflow
            self._running.pop(ident, None)
            callback(None, exc)
            return
        self._running.pop(ident, None)
        callback(payload, None if payload is not None else RuntimeError("trigger ended without an event"))

    def restart(self) -> int:
        """Kill the loop mid-wait (cancel every trigger), start a new one, re-create the triggers."""
        with self._lock:
            pending = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()
            self._start_loop()
            for serialized, callback in pending:
                self.loop.call_soon_threadsafe(self._spawn, next(self._ids), serialized, callback)
        self.restarted += len(pending)
        return len(pending)

    async def _shutdown(self) -> list[tuple[str, EventCallback]]:
        from airflow_provider_kling.hooks.transport import close_shared_session

        pending = [(serialized, cb) for serialized, cb, _ in self._running.values()]
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        await close_shared_session()
        return pending

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


# ---------------------------------------------------------------------------- Airflow, modelled


class AirflowModel:
    """Worker slots, deferral to the triggerer, and retries of transient failures."""

    def __init__(self, settings: Settings, triggerer: Triggerer) -> None:
        self.settings = settings
        self.triggerer = triggerer
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="worker")
        self.outcomes: dict[int, Outcome] = {}
        self.deferrals = 0
        self._done = threading.Condition()

    def start(self, spec: Spec) -> None:
        self.outcomes[spec.index] = Outcome()
        self.pool.submit(self._try, spec, None)

    def wait(self, timeout: float, on_tick: Callable[[], None]) -> None:
        deadline = time.monotonic() + timeout
        with self._done:
            while self.finished < len(self.outcomes) and time.monotonic() < deadline:
                self._done.wait(0.05)
                on_tick()

    @property
    def finished(self) -> int:
        return sum(1 for o in self.outcomes.values() if o.result is not None or o.error is not None)

    def _operator(self, spec: Spec) -> Any:
        from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

        return VideoToAudioOperator(
            task_id=spec.task_id,
            video_id=SAMPLE_VIDEO_ID,
            sound_effect_prompt=spec.prompt,
            deferrable=spec.deferrable,
            poll_interval=self.settings.poll_interval,
            timeout=self.settings.run_timeout,
        )

    def _try(self, spec: Spec, resume_event: dict[str, Any] | None) -> None:
        """One execution of the task instance (a fresh operator, as Airflow builds per try)."""
        from airflow.sdk.exceptions import TaskDeferred

        from airflow_provider_kling.exceptions import fails_without_retry

        outcome = self.outcomes[spec.index]
        if resume_event is None:
            outcome.tries += 1
        op = self._operator(spec)
        context: Any = {"ti": RecordingTI(DAG_ID, spec.run_id, spec.task_id)}
        try:
            if resume_event is None:
                result = op.execute(context)
            else:
                result = op.execute_complete(context, resume_event)
        except TaskDeferred as deferred:
            self.deferrals += 1
            classpath, kwargs = deferred.trigger.serialize()
            self.triggerer.add(
                json.dumps({"classpath": classpath, "kwargs": kwargs}),
                lambda event, error: self._resume(spec, event, error),
            )
            return
        except Exception as exc:
            # Airflow's rule (task runner): every exception is retried unless it fails without retry.
            if not fails_without_retry(exc) and outcome.tries <= self.settings.retries:
                timer = threading.Timer(self.settings.retry_delay, self.pool.submit, (self._try, spec, None))
                timer.daemon = True
                timer.start()
                return
            self._finish(outcome, error=exc)
            return
        self._finish(outcome, result=result)

    def _resume(self, spec: Spec, event: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            self._finish(self.outcomes[spec.index], error=error)
        else:
            self.pool.submit(self._try, spec, event)

    def _finish(self, outcome: Outcome, *, result: Any = None, error: BaseException | None = None) -> None:
        with self._done:
            outcome.result, outcome.error = result, error
            self._done.notify_all()


# ---------------------------------------------------------------------------- the run


def fast_extra(settings: Settings) -> dict[str, float]:
    """The connection's HTTP settings for this run: short timeouts, quick hook retries."""
    return {
        "request_timeout": settings.client_timeout,
        "max_retries": settings.hook_retries,
        "retry_min_wait": 0.02,
        "retry_max_wait": 0.3,
    }


def emulator_config(settings: Settings) -> EmulatorConfig:
    return EmulatorConfig(
        submitted_seconds=settings.submitted_seconds,
        processing_seconds=settings.processing_seconds,
        max_concurrent_tasks=settings.max_concurrent_tasks,
        max_requests_per_second=settings.max_requests_per_second,
        fault_rates=settings.rates,
        seed=settings.seed,
    )


def run(settings: Settings) -> Report:
    """Run the fault run against an in-process emulator and return its figures."""
    from airflow_provider_kling.execution.idempotency import derive_external_task_id

    rng = random.Random(settings.seed)
    specs = [
        Spec(
            i,
            rng.random() < settings.deferrable_share,
            f"Rain on a tin roof, take {i}"
            + (" [fail]" if rng.random() < settings.always_failing_share else ""),
        )
        for i in range(settings.tasks)
    ]
    deferrable = sum(s.deferrable for s in specs)
    restart_at = [
        deferrable * (k + 1) // (settings.triggerer_restarts + 1) for k in range(settings.triggerer_restarts)
    ]
    with EmulatorServer(emulator_config(settings)) as server:
        old_conn = os.environ.get("AIRFLOW_CONN_KLING_DEFAULT")
        os.environ["AIRFLOW_CONN_KLING_DEFAULT"] = json.dumps(
            {
                "conn_type": "kling",
                "host": server.url,
                "login": DEFAULT_ACCESS_KEY,
                "password": DEFAULT_SECRET_KEY,
                "extra": json.dumps(fast_extra(settings)),
            }
        )
        triggerer = Triggerer()
        model = AirflowModel(settings, triggerer)
        started = time.monotonic()

        def maybe_restart() -> None:
            # Restart once enough triggers are mid-wait (or every deferral happened already).
            if restart_at and model.deferrals >= restart_at[0] and triggerer.running:
                restart_at.pop(0)
                triggerer.restart()

        try:
            for spec in specs:
                model.start(spec)
            model.wait(settings.run_timeout, maybe_restart)
            seconds = time.monotonic() - started
        finally:
            triggerer.stop()
            model.pool.shutdown(wait=False, cancel_futures=True)
            if old_conn is None:
                os.environ.pop("AIRFLOW_CONN_KLING_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_KLING_DEFAULT"] = old_conn
        stats = server.emulator.stats
        tasks = list(server.emulator.store.tasks.values())
        bases = {derive_external_task_id(DAG_ID, s.run_id, s.task_id, -1): s for s in specs}
        report = _figures(settings, specs, model, tasks, bases, server.emulator.config)
        report.seconds = seconds
        report.deferrable = deferrable
        report.triggers_restarted = triggerer.restarted
        report.requests = stats.requests
        report.faults = dict(stats.faults_by_kind)
        report.limit_refusals = dict(stats.limit_refusals)
        return report


def _figures(
    settings: Settings,
    specs: list[Spec],
    model: AirflowModel,
    tasks: list[EmulatedTask],
    bases: dict[str, Spec],
    config: EmulatorConfig,
) -> Report:
    from airflow_provider_kling.exceptions import KlingTaskFailedError, fails_without_retry

    problems: list[str] = []
    chains: dict[str, dict[int, EmulatedTask]] = {base: {} for base in bases}
    duplicates = 0
    for task in tasks:
        match = EXTERNAL_ID_BASE.match(task.external_task_id)
        if match is None or match.group(1) not in chains:
            duplicates += 1  # created under an id no operator derives: nobody will ever use it
            problems.append(
                f"Kling task {task.task_id} has unexpected external_task_id {task.external_task_id!r}"
            )
            continue
        chains[match.group(1)][int(match.group(2) or 1)] = task

    lost = failed_transient = failed_without_retry = kling_failed = reported = succeeded = replaced = 0
    always_failing = used_all_tries = 0
    for base, spec in bases.items():
        chain = chains[base]
        # Allowed: <base>, then <base>-2 only if <base> failed, <base>-3 only if <base>-2 failed...
        allowed = 0
        while allowed + 1 in chain and (allowed == 0 or chain[allowed].status(config) == "failed"):
            allowed += 1
        duplicates += len(chain) - allowed
        replaced += max(0, allowed - 1)
        outcome = model.outcomes[spec.index]
        final = chain.get(allowed)
        if outcome.result is None and outcome.error is None:
            lost += 1
            problems.append(f"{spec.task_id}: never finished")
            continue
        if final is None:
            lost += 1
            problems.append(f"{spec.task_id}: no Kling task at all ({outcome.error!r})")
            continue
        final_failed = final.status(config) == "failed"
        error = outcome.error
        if spec.always_fails:
            always_failing += 1
            if outcome.tries == settings.retries + 1:
                used_all_tries += 1
            else:
                problems.append(f"{spec.task_id}: an always-failing task stopped after {outcome.tries} tries")
        # An always-failing task whose last try hit a fault (past all retries) reports that fault.
        kling_failed += final_failed and (not spec.always_fails or isinstance(error, KlingTaskFailedError))
        if outcome.result is not None:
            if outcome.result.get("task_id") != final.task_id or final_failed:
                lost += 1
                problems.append(
                    f"{spec.task_id}: result {outcome.result.get('task_id')} is not {final.task_id}"
                )
            elif not outcome.result.get("audios"):
                problems.append(f"{spec.task_id}: succeeded without audio")
            else:
                succeeded += 1
            continue
        if isinstance(error, KlingTaskFailedError):
            if (
                final_failed
                and error.task_id == final.task_id
                and final.fail_message
                and (final.fail_message in str(error))
            ):
                reported += 1
            else:
                problems.append(
                    f"{spec.task_id}: reported {error} but Kling task {final.task_id} "
                    f"is {final.status(config)}"
                )
            continue
        if spec.always_fails and outcome.tries == settings.retries + 1:
            continue  # doomed anyway; its last try's fault is what it reports
        if fails_without_retry(error):  # type: ignore[arg-type]
            failed_without_retry += 1
        else:
            failed_transient += 1
        problems.append(
            f"{spec.task_id}: failed after {outcome.tries} tries: {type(error).__name__}: {error}"
        )
    return Report(
        tasks=len(specs),
        seconds=0.0,
        duplicates=duplicates,
        lost=lost,
        failed_transient=failed_transient,
        failed_without_retry=failed_without_retry,
        always_failing=always_failing,
        always_failing_used_all_tries=used_all_tries,
        kling_failed=kling_failed,
        kling_failed_reported=reported,
        succeeded=succeeded,
        airflow_retries=sum(o.tries - 1 for o in model.outcomes.values()),
        resubmitted_after_failure=replaced,
        triggers_restarted=0,
        deferrable=0,
        kling_tasks_created=len(tasks),
        requests=0,
        faults={},
        limit_refusals={},
        problems=problems[:20],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hook-retries", type=int, default=6, help="the hook's own retries per call")
    parser.add_argument("--retries", type=int, default=10, help="Airflow retries per task")
    parser.add_argument("--verbose", action="store_true", help="show the provider's retry warnings")
    args = parser.parse_args(argv)
    # Before Airflow is imported (it configures logging once): the run logs thousands of retries.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING" if args.verbose else "CRITICAL")
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    report = run(
        Settings(tasks=args.tasks, seed=args.seed, hook_retries=args.hook_retries, retries=args.retries)
    )
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
