"""What the task log says about a finished Kling task: the files it made and the units it cost."""

from __future__ import annotations

from typing import Any

from airflow_provider_kling.utils.units import units


def describe_cost(task: dict[str, Any]) -> str:
    """``1.02 units (balance: 0.1142 after discount, 0.1428 at list price)``, from the XCom result."""
    credits = task.get("credits")
    text = "an unknown number of units (Kling sent no final_unit_deduction)"
    if credits is not None:
        text = units(credits)
    balance = task.get("balance_deduction") or {}
    if balance.get("quota") is not None or balance.get("list_price") is not None:
        quota, list_price = balance.get("quota"), balance.get("list_price")
        text += f" (balance: {quota} after discount, {list_price} at list price)"
    return text


def describe_outputs(task: dict[str, Any]) -> str:
    """The result's file URLs, for the task log."""
    urls = [a.get("url") or a.get("url_mp3") or a.get("url_wav") for a in task.get("audios", [])]
    urls += [v.get("url") for v in task.get("videos", [])]
    urls += [i.get("url") for i in task.get("images", [])]
    return ", ".join(u for u in urls if u) or "no output URLs"
