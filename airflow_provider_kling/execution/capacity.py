"""Waiting for a free Kling parallel-task slot: a busy account is normal, not a fault.

Kling runs at most N tasks per account at once and refuses a submit beyond that with 1303
(``docs/kling-api.md#concurrency``: a slot is held from ``submitted`` until the task ends, and
clients are asked to queue submissions and back off, not to retry in a herd). ``CapacityGate`` is
that queue, one per (event loop, connection):

* submitters take turns in arrival order (FIFO), so nobody is starved;
* after a 1303 the gate is *closed*: a queued submit goes only when a slot is seen to free up,
  i.e. when a Kling task that a wait on this loop watched reaches ``succeed`` / ``failed``
  (``slot_freed``), one submit per freed slot;
* an image task with ``n`` images holds ``n`` slots (docs/kling-api.md#concurrency): behind a closed
  gate it goes only once ``n`` slots are seen to be free, and in its turn (a small task behind
  it waits too, so a big one is never starved); image and video packs are counted apart, each
  with its own gate (``CapacityGate.for_kind``);
* slots freed by tasks this loop does not watch (other triggerers, other DAGs, the Kling web
  app) are found by a *probe*: one submit, after a delay that doubles from ``PROBE_MIN_SECONDS``
  to ``PROBE_MAX_SECONDS`` while the account stays full, so a full account costs a handful of
  refusals per hour, not one per waiting task per backoff step;
* with ``watch_account`` (every deferred or blocking submit registers its task kind), a closed
  gate instead reads Kling's list (free: queries hold no slot) and counts the account's running
  tasks, whoever created them (``execution.account_view``): slots freed by other triggerers are
  found without a refused submit, and probing is left for when the list cannot be read.

On a triggerer every deferred submit and every wait of the connection share one gate, which is
what keeps refusals near one per Kling task. A blocking operator has a gate of its own (its own
event loop): it simply probes with that backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.exceptions import KlingCapacityTimeoutError, KlingConcurrencyLimitError
from airflow_provider_kling.execution.account_view import AccountView, Reader
from airflow_provider_kling.execution.progress import HEARTBEAT_SECONDS
from airflow_provider_kling.execution.rate_limits import outlast_rate_limits
from airflow_provider_kling.utils.loop_registry import LoopRegistry

if TYPE_CHECKING:
    import logging

    from airflow_provider_kling.api.kinds import TaskKind
    from airflow_provider_kling.api.tasks import KlingTask


PROBE_MIN_SECONDS = 2.0  # Kling: first backoff delay >= 1 s
PROBE_MAX_SECONDS = 60.0
# While the account view hands out turns, a probe still goes this many probe_max_seconds apart
# (``slow_probe_seconds``): a limit learned too low (a slot held by a task the view does not
# count) is found again.
SLOW_PROBE_FACTOR = 5
# After the hook's own retries gave up on a 1302 (rate limit): keep trying, this patiently.


class CapacityGate:
    """FIFO turns for submits to one Kling account on one event loop (see module docstring)."""

    def __init__(
        self,
        *,
        probe_min_seconds: float = PROBE_MIN_SECONDS,
        probe_max_seconds: float = PROBE_MAX_SECONDS,
        slow_probe_seconds: float | None = None,
    ) -> None:
        self.probe_min_seconds = probe_min_seconds
        self.probe_max_seconds = probe_max_seconds
        self.slow_probe_seconds = slow_probe_seconds or SLOW_PROBE_FACTOR * probe_max_seconds
        # Each waiter's future resolves to True when its turn is a probe, False for a freed slot.
        self._queue: deque[asyncio.Future[bool]] = deque()
        self._slots: dict[asyncio.Future[bool], int] = {}  # slots each waiter needs (1 unless image)
        self._closed = False  # True after a 1303, until a probe gets through
        self._tokens = 0  # slots seen to free up since the gate closed, not yet handed out
        self._probe_delay = probe_min_seconds
        self._probe_timer: asyncio.TimerHandle | None = None
        self._probing = False  # a probe turn is out and has not reported back
        self.view: AccountView | None = None  # set by watch_account
        self._reading: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # When the view last handed out a turn (probes wait while it does; a new gate gives its view
        # probe_max_seconds to start), and when the last probe went (see SLOW_PROBE_FACTOR).
        self._handed_at = self._probed_at = time.monotonic()

    @classmethod
    def shared(cls, key: str) -> CapacityGate:
        """The gate of this event loop for ``key`` (a connection id)."""
        return _gates.get_or_create(key, cls)

    @classmethod
    def for_kind(cls, conn_id: str, kind: TaskKind) -> CapacityGate:
        """The gate of the pack type ``kind`` counts against (video and image packs apart)."""
        return cls.shared(conn_id if kind.pack == "video" else f"{conn_id}#{kind.pack}")

    def watch_account(self, kind: str, reader: Reader, poll_interval: float) -> None:
        """Count the account's running ``kind`` tasks with ``reader`` (its newest list page)."""
        if self.view is None:
            self.view = AccountView()
        self.view.watch(kind, reader, poll_interval)

    def _viewing(self) -> bool:
        """A list read succeeded lately: the view, not probes, finds freed slots."""
        return bool(self.view and self.view.fresh())

    def _admit_now(self) -> bool:
        """An open gate lets a submit go at once unless the account view shows no room; with no
        fresh view, one submit at a time (a burst of deferred submits must not meet 1303 all together)."""
        view = self.view
        if view is None or not view.readers:
            return True
        if not (view.free() > 0 if self._viewing() else view.in_flight == 0):
            return False
        view.in_flight += 1
        return True

    def _start_reading(self) -> None:
        view = self.view
        if view and view.readers and self._closed and (self._reading is None or self._reading.done()):
            self._reading = asyncio.get_running_loop().create_task(self._read_loop(view))

    async def _read_loop(self, view: AccountView) -> None:
        while self._closed and self.waiting:
            self._wake.clear()  # before the read: a task that ends during it wakes the next one
            if await view.read():
                self._tokens = max(0, view.credit())  # what the account has free now, not a sum
                self._dispatch()
            elif not self._probing:
                self._schedule_probe()  # the list cannot be read: find capacity the old way
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), random.uniform(0.9, 1.0) * view.read_every)
        if self._closed and not self.waiting and view.read_at and view.free() > 0:
            self._closed, self._tokens = False, 0  # nobody waits and there is room: next one tries

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._queue if not f.done())

    async def turn(
        self,
        *,
        timeout: float,
        front: bool = False,
        heartbeat: Callable[[int], None] | None = None,
        slots: int = 1,
    ) -> bool:
        """Wait for this caller's turn to submit; returns whether the turn is a probe.

        Raises ``asyncio.TimeoutError`` when ``timeout`` seconds pass first. ``front``: a caller
        that was just refused keeps its place at the head of the queue. ``heartbeat(position)``
        is called every ``HEARTBEAT_SECONDS`` while waiting (the progress line in the task log).
        ``slots``: what the task will hold; behind a closed gate the turn comes once that many
        slots were seen to free up (a probe turn goes regardless: Kling decides).
        """
        if not self._closed and not self._queue:
            if self._admit_now():
                return False
            self.close()  # the list shows no room (or a submit is still out): wait in line
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._slots[future] = max(1, slots)
        if front:
            self._queue.appendleft(future)
        else:
            self._queue.append(future)
        self._dispatch()
        self._start_reading()
        give_up = loop.time() + timeout
        try:
            while True:
                left = give_up - loop.time()
                if left <= 0:
                    raise asyncio.TimeoutError
                # asyncio.wait, not wait_for: it never cancels our place in the queue on a
                # heartbeat timeout, and (unlike wait_for on 3.10/3.11) it never swallows a
                # cancel that arrives in the same step as the turn: a cancelled trigger must
                # not go on to submit.
                done, _ = await asyncio.wait((future,), timeout=min(left, HEARTBEAT_SECONDS))
                if done:
                    return future.result()
                if heartbeat is not None and loop.time() < give_up:
                    heartbeat(self._position(future))
        except (asyncio.TimeoutError, asyncio.CancelledError):
            if future.done() and not future.cancelled():
                # granted just as we gave up: pass it on
                self.give_back(probe=future.result(), slots=self._slots.get(future, 1))
            future.cancel()
            self._slots.pop(future, None)
            self._dispatch()  # a big task that gave up may have held back smaller ones
            raise
        finally:
            self._slots.pop(future, None)

    def _position(self, future: asyncio.Future[bool]) -> int:
        """1-based place in the queue, counting only callers still waiting."""
        ahead = 0
        for queued in self._queue:
            if queued is future:
                break
            if not queued.done():
                ahead += 1
        return ahead + 1

    def refused(self, *, probe: bool = False) -> None:
        """A submit met 1303 (``probe``: the probe's turn did): close the gate; probe later,
        unless a probe is still out (it will report)."""
        self._closed = True
        self._tokens = 0
        if self.view is not None:
            self.view.refused()
        if probe:
            self._probing = False
        if not self._probing:
            self._schedule_probe()
        self._start_reading()

    def close(self) -> None:
        """The account is known to be full (a caller met 1303 elsewhere): queue, and probe later."""
        if not self._closed:
            self._closed = True
            self._tokens = 0
        if not self._probing:
            self._schedule_probe()
        self._start_reading()

    def accepted(self, *, probe: bool) -> None:
        """A submit got through. After a probe that got through, the next in line probes at once
        (one at a time, not all at once: how much capacity came back is unknown)."""
        if self.view is not None:
            self.view.accepted()
        if not (probe and self._probing):
            return
        self._probing = False
        self._probe_delay = self.probe_min_seconds
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None
        self._probe(chained=True)

    def slot_freed(self, slots: int = 1) -> None:
        """A Kling task watched on this loop ended, freeing ``slots``: queued submits may go."""
        if not self._closed:
            return
        if self._viewing() and self.view is not None:
            self.view.owner_slots += max(1, slots)  # this loop saw it end: refill it at once
            self._wake.set()
            return
        self._tokens += max(1, slots)
        self._dispatch()

    # ------------------------------------------------------------------ internals

    def _dispatch(self) -> None:
        while self._queue:
            head = self._queue[0]
            if head.done():  # given up (timed out or cancelled)
                self._queue.popleft()
                continue
            if self._closed:
                need = self._slots.get(head, 1)
                if self._tokens < need:
                    return
                self._tokens -= need
                if self.view is not None:
                    self._handed_at = time.monotonic()
                    self.view.in_flight += need
            self._queue.popleft()
            head.set_result(False)

    def give_back(self, *, probe: bool, slots: int = 1) -> None:
        """A granted turn was not used (the caller gave up, or its submit failed otherwise):
        the next in line gets it (with the ``slots`` it was granted)."""
        if self.view is not None:
            self.view.in_flight = max(0, self.view.in_flight - max(1, slots))
        if probe:
            self._probing = False
            self._schedule_probe()
        elif self._closed:
            self._tokens += max(1, slots)
        self._dispatch()

    def _schedule_probe(self) -> None:
        if self._probe_timer is not None:
            return
        delay = random.uniform(self._probe_delay / 2, self._probe_delay)
        self._probe_delay = min(self.probe_max_seconds, self._probe_delay * 2)
        self._probe_timer = asyncio.get_running_loop().call_later(delay, self._probe)

    def _probe(self, *, chained: bool = False) -> None:
        self._probe_timer = None
        view, now = self.view, time.monotonic()
        handing_out = now - self._handed_at < self.probe_max_seconds
        slow_due = now - self._probed_at >= self.slow_probe_seconds
        trusted = view and view.confirmed and view.fresh() and self.waiting and handing_out
        if not chained and trusted and not slow_due:
            self._schedule_probe()  # the list hands out slots: probe on a stall, or slowly
            return
        while self._queue and self._queue[0].done():
            self._queue.popleft()
        if not self._queue:
            # Nobody waits: the gate opens and the next submit simply tries.
            self._closed = False
            self._probe_delay = self.probe_min_seconds
            return
        self._probing, self._probed_at = True, now
        if self.view is not None:
            self.view.in_flight += 1
        self._queue.popleft().set_result(True)


# The gate of each connection on each event loop.
_gates: LoopRegistry[str, CapacityGate] = LoopRegistry()


async def submit_when_capacity(
    gate: CapacityGate,
    submit: Callable[[], Awaitable[KlingTask]],
    *,
    deadline: float,
    waiting_since: float,
    log: logging.Logger | Any,
    what: str,
    known_full: bool = False,
    first_in_line: bool = False,
    last_refusal: KlingConcurrencyLimitError | None = None,
    slots: int = 1,
) -> KlingTask:
    """Run ``submit`` when the gate gives this caller a turn; wait again on every 1303.

    ``slots``: parallel-task slots the task holds (an image task's ``n``); behind a closed gate
    it waits until that many are seen to free up.

    ``known_full``: this caller already met a 1303, so it does not try again at once but queues
    behind a closed gate (at its head with ``first_in_line``, else in arrival order). Raises
    ``KlingCapacityTimeoutError`` when ``deadline`` (epoch seconds) passes first. Other errors
    of ``submit`` propagate (it owns its own retries and at-most-once look-ups).
    """
    front = first_in_line
    if known_full:
        gate.close()
    if deadline <= time.time():  # e.g. a trigger re-created after the triggerer was down
        raise KlingCapacityTimeoutError.after(what, time.time() - waiting_since, last_refusal)

    def heartbeat(position: int) -> None:
        log.info(
            "%s: still waiting for a free Kling parallel-task slot (place %d in line, %.0fs so far)",
            what,
            position,
            time.time() - waiting_since,
        )

    while True:
        try:
            probe = await gate.turn(
                timeout=max(0.0, deadline - time.time()), front=front, heartbeat=heartbeat, slots=slots
            )
        except asyncio.TimeoutError:
            raise KlingCapacityTimeoutError.after(what, time.time() - waiting_since, last_refusal) from None
        try:
            task = await outlast_rate_limits(submit, deadline=deadline, log=log, what=what)
        except KlingConcurrencyLimitError as exc:
            last_refusal = exc
            gate.refused(probe=probe)
            log.info(
                "%s: Kling account still at its parallel-task limit (%s); waiting in line "
                "(%d waiting, %.0fs so far)",
                what,
                exc.code,
                gate.waiting + 1,
                time.time() - waiting_since,
            )
            front = True
            continue
        except BaseException:
            gate.give_back(probe=probe, slots=slots)
            raise
        gate.accepted(probe=probe)
        return task
