"""The account's running tasks as Kling's list shows them: how many slots a closed gate may hand out.

A ``CapacityGate`` only sees the tasks its own event loop watches. Several triggerers (or
workers, or other tools) sharing one account each have their own gate, so each would see only
its own tasks end, and find the slots freed by the others by probing (a submit that may meet
1303). Kling's list endpoint shows every task of the account, whoever created it, and costs no
slot (docs/kling-api.md#concurrency: only generation tasks are limited; a slot is held from
``submitted`` until the task ends). ``AccountView`` reads the first page of each task kind the
gate's submitters use and counts the tasks in ``submitted`` / ``processing``:

* ``limit``: the most tasks ever seen running at once (Kling never runs more than its limit,
  so this is the limit or less), set to what a fresh read saw (plus this loop's submits since)
  when a submit met 1303 (then it is Kling's word, ``confirmed``: until then the gate still
  probes for more, as without a view; after it, a probe still comes while the view hands out
  nothing, and a slow one every few minutes while it does, since slots held by tasks the view
  does not count can make it too low; a later refusal lowers it, only reads raise it);
* free slots = ``limit`` - running now - this loop's submits the page cannot show yet (those of
  the last few read intervals: an older one is on the page, or the view is stale anyway).

Who takes a freed slot, without a shared store: the loop that watched the task end (its poll
noticed it: ``owner`` slots) refills it at once; a slot freed elsewhere is taken only once it
stayed free for ``grace`` (longer than the owner's poll interval, randomised so two other loops
do not take it together), so two triggerers rarely submit into the same slot.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kling.api.tasks import KlingTask

Reader = Callable[[], Awaitable["list[KlingTask]"]]

VIEW_PAGE_SIZE = 100  # running tasks are the newest: a page of 100 holds them unless 100 ended since
MAX_READ_SECONDS = 2.0  # a gate with queued submits reads the list at least this often
FRESH_SLACK_SECONDS = 5.0  # a read stays the gate's view for 3 read intervals plus this
MAX_GRACE_POLL_SECONDS = 30.0  # the grace outlasts an owner's poll interval, up to this one
RUNNING = ("submitted", "processing")


class AccountView:
    """What one gate knows of its account's running tasks (see module docstring)."""

    def __init__(self) -> None:
        self.readers: dict[str, Reader] = {}  # task kind -> reads its newest page
        self.poll_interval = 0.0  # the longest poll interval of the gate's waits (owners' detection)
        self.limit = 0
        self.confirmed = False  # a 1303 came while the view counted: ``limit`` is Kling's own
        self.running = 0  # at the last read
        self.read_at: float | None = None  # monotonic start of the last complete read
        self.in_flight = 0  # turns handed out whose submit has not reported back
        self.owner_slots = 0  # slots this loop saw free up since the last read
        self._own: deque[float] = deque()  # when this loop's submits went through
        self._free_since: float | None = None
        self._free_low = 0
        self._grace = 0.0

    def watch(self, kind: str, reader: Reader, poll_interval: float) -> None:
        self.readers[kind] = reader  # the newest caller's: a rotated key reaches the reads
        self.poll_interval = max(self.poll_interval, poll_interval)

    @property
    def read_every(self) -> float:
        return min(MAX_READ_SECONDS, max(0.5, self.poll_interval))

    @property
    def fresh_for(self) -> float:
        return 3 * self.read_every + FRESH_SLACK_SECONDS

    def fresh(self) -> bool:
        """A list read succeeded lately: the view, not probes, finds freed slots."""
        return bool(self.read_at and time.monotonic() - self.read_at < self.fresh_for)

    def _trim(self) -> None:
        """Forget own submits a read shows, or too old to count (a stale view counts none)."""
        oldest = time.monotonic() - self.fresh_for
        if self.read_at is not None:
            oldest = max(oldest, self.read_at)
        while self._own and self._own[0] < oldest:
            self._own.popleft()

    async def read(self) -> bool:
        """Read every watched kind's newest page; ``False`` when a read failed (nothing learned)."""
        started = time.monotonic()
        running = 0
        for reader in list(self.readers.values()):
            try:
                tasks = await reader()
            except Exception:  # a failed read only means: no view this round (the gate probes)
                return False
            running += sum(1 for task in tasks if task.task_status.value in RUNNING)
        self.read_at, self.running = started, running
        self.limit = max(self.limit, running)
        self._trim()  # the page shows the submits made before it was read
        return True

    def accepted(self) -> None:
        self._trim()  # bounded while the gate is open and nobody reads
        self._own.append(time.monotonic())
        self.in_flight = max(0, self.in_flight - 1)

    def refused(self) -> None:
        """A submit met 1303: the account is full at what a fresh read showed (plus our own since);
        an old read says nothing of now (tasks ended, others started), so nothing is learned."""
        self.in_flight = max(0, self.in_flight - 1)
        self._trim()
        if self.fresh():
            seen = self.running + len(self._own)
            if seen:  # (none seen: what holds the slots is not in our view; keep probing)
                # ``seen`` can count a task twice (ended since the read, its slot refilled by us):
                # a refusal lowers a confirmed limit, never raises it (reads of running tasks do).
                self.limit = min(self.limit, seen) if self.confirmed else seen
                self.confirmed = True
        self._free_since = None

    def free(self) -> int:
        self._trim()
        return self.limit - self.running - len(self._own) - self.in_flight

    def credit(self) -> int:
        """Slots the gate may hand out after a read: the owner's at once, others' once free for grace."""
        free = self.free()
        owner = max(0, min(free, self.owner_slots))
        self.owner_slots -= owner  # an end seen during the read may not show on its page yet
        others = free - owner
        if others <= 0:
            self._free_since = None
            return owner
        now = time.monotonic()
        if self._free_since is None:
            self._free_since, self._free_low = now, others
            self._grace = random.uniform(1.0, 1.5) * (min(self.poll_interval, MAX_GRACE_POLL_SECONDS) + 1.0)
            return owner
        self._free_low = min(self._free_low, others)
        if now - self._free_since < self._grace:
            return owner
        self._free_since = None  # the next slot freed elsewhere waits its own grace
        return owner + self._free_low
