"""How an amount of Kling resource-pack units reads in logs and the UI: "1 unit", "2.5 units"."""

from __future__ import annotations


def units(amount: float) -> str:
    """``amount`` with Kling's unit name, singular for exactly one."""
    return f"{amount:g} unit" if amount == 1 else f"{amount:g} units"
