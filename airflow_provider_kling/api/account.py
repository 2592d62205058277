"""Kling's resource packs (``GET /account/costs``) as pydantic models, and their budget floor."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from airflow_provider_kling.api.tasks import Timestamp, _Tolerant, parse_model
from airflow_provider_kling.exceptions import KlingBudgetError, KlingResponseError, api_error

# Kling's remaining_quantity is up to 12 h behind the real spend (docs/kling-api.md#account-costs).
REMAINING_LAG_HOURS = 12


class ResourcePack(_Tolerant):
    """One entry of ``resource_pack_subscribe_infos``."""

    resource_pack_name: str = ""
    resource_pack_id: str | None = None
    resource_pack_type: str | None = None  # decreasing_total | constant_period
    total_quantity: float | None = None
    remaining_quantity: float | None = None  # lags the real spend by up to 12 h
    purchase_time: Timestamp = None
    effective_time: Timestamp = None
    invalid_time: Timestamp = None
    status: str | None = None  # toBeOnline | online | expired | runOut

    @property
    def is_online(self) -> bool:
        return self.status == "online"

    def describe(self) -> str:
        total = "?" if self.total_quantity is None else f"{self.total_quantity:g}"
        left = "?" if self.remaining_quantity is None else f"{self.remaining_quantity:g}"
        name = self.resource_pack_name or self.resource_pack_id or "unnamed"
        return f"{name}: {left} of {total} left ({self.status})"


class ResourcePacks(_Tolerant):
    """The ``data`` of ``GET /account/costs``."""

    resource_pack_subscribe_infos: list[ResourcePack] = Field(default_factory=list)

    @property
    def packs(self) -> list[ResourcePack]:
        return self.resource_pack_subscribe_infos

    @property
    def online_remaining(self) -> float:
        """Units left in the packs that are ``online`` (what a submit can spend now)."""
        return sum(p.remaining_quantity or 0.0 for p in self.packs if p.is_online)

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.packs) or "no resource packs"


def parse_resource_packs(data: Any) -> ResourcePacks:
    if not isinstance(data, dict):
        raise KlingResponseError(
            f"Kling's answer to GET /account/costs has no object in 'data' (got {type(data).__name__})"
        )
    inner_code = data.get("code")
    if inner_code not in (None, 0, "0"):  # the account answer nests its own code/msg in data
        code = int(inner_code) if str(inner_code).isdigit() else None
        raise api_error(str(data.get("msg") or ""), code=code, http_status=None, request_id=None)
    return parse_model(ResourcePacks, data, "answer to GET /account/costs")


def check_floor(packs: ResourcePacks, floor: float) -> float:
    """Return the online remaining units, or raise :class:`KlingBudgetError` when below ``floor``."""
    remaining = packs.online_remaining
    if remaining < floor:
        raise KlingBudgetError(
            f"Budget floor not met: {remaining:g} {'unit remains' if remaining == 1 else 'units remain'} "
            "in the online Kling resource packs, "
            f"below min_remaining_units={floor:g}; nothing was submitted. Packs: {packs.describe()}. "
            f"Kling's remaining figures lag by up to {REMAINING_LAG_HOURS} h, so the real balance "
            "may be lower still."
        )
    return remaining
