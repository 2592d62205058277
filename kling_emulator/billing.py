"""The emulator's resource packs, what a finished task costs, and ``GET /account/costs``.

Prices are made up (Kling's real ones depend on model, mode and contract): a task costs
``units_per_second`` units per second of the media it produces (0.2 by default, so a 5 s clip
costs 1 unit and a 10 s one 2), and its cash deduction is ``LIST_PRICE_PER_UNIT`` per unit at
list price, ``QUOTA_SHARE`` of that after the account's discount.

Only tasks that end ``succeed`` are charged, when they finish (the clock decides, see
``EmulatedTask.status``). Unlike Kling, whose ``remaining_quantity`` lags up to 12 h, the
emulator reports a charge as soon as the task has finished.

Contract: docs/kling-api.md#account-costs and docs/kling-api.md#deductions.
"""

from __future__ import annotations

import contextvars
import heapq
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kling_emulator.errors import KlingAPIFailure

# The account of every credential ``EmulatorConfig.accounts`` does not name.
DEFAULT_ACCOUNT = "default"
# The account whose request is being handled (``KlingEmulator._handler`` sets it after auth):
# a charge recorded without naming its account is that account's.
current_account: contextvars.ContextVar[str] = contextvars.ContextVar(
    "kling_account", default=DEFAULT_ACCOUNT
)
LIST_PRICE_PER_UNIT = 0.14  # made-up cash price of one unit (list price)
QUOTA_SHARE = 0.8  # made-up: the account pays 80 % of the list price
DAY_MS = 86_400_000
# Pack statuses and types of GET /account/costs (docs/kling-api.md#account-costs).
PACK_STATUSES = ("toBeOnline", "online", "expired", "runOut")
PACK_TYPES = ("decreasing_total", "constant_period")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ResourcePack:
    """One pack as ``/account/costs`` reports it; ``used`` is what finished tasks drew from it."""

    name: str = "Emulator video pack"
    total_quantity: float = 1_000_000.0
    used: float = 0.0
    status: str = "online"
    pack_type: str = "decreasing_total"
    pack_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    effective_time: int = field(default_factory=lambda: _now_ms() - DAY_MS)
    invalid_time: int = field(default_factory=lambda: _now_ms() + 365 * DAY_MS)

    @property
    def remaining(self) -> float:
        return max(0.0, self.total_quantity - self.used)

    @property
    def current_status(self) -> str:
        return "runOut" if self.status == "online" and self.remaining <= 0 else self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_pack_name": self.name,
            "resource_pack_id": self.pack_id,
            "resource_pack_type": self.pack_type,
            "total_quantity": float(self.total_quantity),
            "remaining_quantity": round(self.remaining, 4),
            "purchase_time": self.effective_time,
            "effective_time": self.effective_time,
            "invalid_time": self.invalid_time,
            "status": self.current_status,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ResourcePack:
        """``{"name", "total_quantity", "remaining_quantity"?, "status"?, "pack_type"?}``."""
        values = dict(values)
        remaining = values.pop("remaining_quantity", None)
        pack = cls(**values)
        if remaining is not None:
            pack.used = pack.total_quantity - float(remaining)
        pack.check()
        return pack

    @classmethod
    def parse(cls, text: str) -> ResourcePack:
        """The CLI form ``NAME=TOTAL`` or ``NAME=TOTAL/REMAINING`` (e.g. ``Trial=66/0``)."""
        name, sep, amounts = text.rpartition("=")
        total, _, remaining = amounts.partition("/")
        try:
            values: dict[str, Any] = {"total_quantity": float(total)}
            if remaining:
                values["remaining_quantity"] = float(remaining)
        except ValueError:
            raise ValueError(f"resource pack {text!r}: expected NAME=TOTAL or NAME=TOTAL/REMAINING") from None
        if sep and name:
            values["name"] = name
        return cls.from_dict(values)

    def check(self) -> None:
        if self.status not in PACK_STATUSES:
            raise ValueError(f"resource pack status must be one of {PACK_STATUSES}, got {self.status!r}")
        if self.pack_type not in PACK_TYPES:
            raise ValueError(f"resource pack type must be one of {PACK_TYPES}, got {self.pack_type!r}")
        if not 0 <= self.remaining <= self.total_quantity:
            raise ValueError("resource pack: remaining_quantity must be 0..total_quantity")


def default_packs() -> list[ResourcePack]:
    """Enough units that nothing runs out unless a test or a flag says so."""
    return [ResourcePack()]


def units_for(seconds: float, units_per_second: float) -> float:
    return round(seconds * units_per_second, 2)


def _text(number: float, places: int) -> str:
    return f"{number:.{places}f}".rstrip("0").rstrip(".") or "0"


def deductions(seconds: float, units_per_second: float) -> dict[str, Any]:
    """The task fields Kling adds once a task succeeded: units, and the cash at list/discount.

    Contract: docs/kling-api.md#deductions (decimal strings, docs/kling-api.md#task-object).
    """
    return unit_deductions(units_for(seconds, units_per_second))


def unit_deductions(units: float) -> dict[str, Any]:
    """``deductions`` for a task priced per call or per image (``units`` already known)."""
    list_price = units * LIST_PRICE_PER_UNIT
    return {
        "final_unit_deduction": _text(units, 2),
        "final_balance_deduction": {
            "quota": _text(list_price * QUOTA_SHARE, 4),
            "list_price": _text(list_price, 4),
        },
    }


class Ledger:
    """Charges waiting for their task to finish, drawn from its account's packs once it has."""

    def __init__(self) -> None:
        self._pending: list[tuple[float, str, float, str]] = []  # (finishes_at, task_id, units, account)

    def record(self, task_id: str, finishes_at: float, units: float, account: str | None = None) -> None:
        """Charge ``units`` to ``account`` (default: the caller's, ``current_account``) at ``finishes_at``."""
        heapq.heappush(self._pending, (finishes_at, task_id, units, account or current_account.get()))

    def settle(self, packs_for: Callable[[str], list[ResourcePack]], now: float | None = None) -> None:
        """Draw every finished task's units from its account's online pack that expires first."""
        now = time.time() if now is None else now
        while self._pending and self._pending[0][0] <= now:
            _, _, units, account = heapq.heappop(self._pending)
            for pack in sorted(packs_for(account), key=lambda p: p.invalid_time):
                if units <= 0:
                    break
                if pack.current_status == "online":
                    drawn = min(units, pack.remaining)
                    pack.used += drawn
                    units -= drawn

    def held(self, account: str) -> float:
        """Units the account's running (not yet finished) tasks will draw."""
        return sum(units for _, _, units, owner in self._pending if owner == account)


def admit(
    ledger: Ledger, packs_for: Callable[[str], list[ResourcePack]], account: str, units: float | None
) -> None:
    """Refuse (1102) a submit the account's online packs cannot pay next to its running tasks.

    ``units``: what the new task will cost (None when not known yet: then only an exhausted
    account is refused). Kling's 1102 is "resource pack exhausted or expired"; it does not say
    whether running tasks hold units, but a pack cannot be overdrawn, so the emulator counts them.
    Contract: docs/kling-api.md#deductions and #error-codes.
    """
    ledger.settle(packs_for)
    packs = packs_for(account)
    remaining = sum(p.remaining for p in packs if p.current_status == "online")
    held = ledger.held(account)
    if remaining <= 0 or (units is not None and held + units > remaining + 1e-9):  # float sums
        raise KlingAPIFailure(
            1102,
            "Account resource pack has been depleted or expired "
            f"({remaining:g} units left, {held:g} held by running tasks, this task needs {units or 0:g})",
        )


def costs_data(query: dict[str, str], packs: list[ResourcePack]) -> dict[str, Any]:
    """``data`` of ``GET /account/costs``; ``ValueError`` names a missing or bad parameter.

    Contract: docs/kling-api.md#account-costs (``data`` nests its own ``code`` and ``msg``).
    """
    for name in ("start_time", "end_time"):
        value = query.get(name, "")
        if not value.strip().isdigit():
            raise ValueError(f"{name} is required: an integer timestamp in milliseconds")
    start, end = int(query["start_time"]), int(query["end_time"])
    if start > end:
        raise ValueError("start_time must not be after end_time")
    wanted = query.get("resource_pack_name") or None
    infos = [
        p.to_json()
        for p in packs
        if (wanted is None or p.name == wanted) and p.effective_time <= end and p.invalid_time >= start
    ]
    return {"code": 0, "msg": "", "resource_pack_subscribe_infos": infos}
