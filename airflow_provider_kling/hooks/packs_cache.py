"""The resource-packs answer shared by every hook of a host for ``[kling] resource_packs_cache_seconds``.

Two layers: one per process (every hook, any loop, any thread: concurrent callers make one
call), over a file per host (every task instance is a process of its own: they share one call
too). Kling asks for at most one ``GET /account/costs`` per second.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kling.api.account import ResourcePacks, parse_resource_packs
from airflow_provider_kling.config import resource_packs_cache_dir
from airflow_provider_kling.hooks.host_cache import HostCache
from airflow_provider_kling.hooks.single_flight import SingleFlightCache

_resource_packs_cache: SingleFlightCache[ResourcePacks] = SingleFlightCache()

ACCOUNT_COSTS_PATH = "/account/costs"  # no /v1 prefix (docs/kling-api.md#account-costs)
# Packs whose validity overlaps [now - this, now] are asked for: a pack bought a year ago may still be on.
RESOURCE_PACKS_LOOKBACK_MS = 400 * 86_400_000


async def fetch_resource_packs(request: Callable[..., Awaitable[Any]], resource_pack_name: str | None) -> Any:
    """One ``GET /account/costs`` sent by a hook's ``arequest``: its ``data``, checked before it is shared."""
    now = int(time.time() * 1000)
    params: dict[str, Any] = {"start_time": now - RESOURCE_PACKS_LOOKBACK_MS, "end_time": now}
    if resource_pack_name:
        params["resource_pack_name"] = resource_pack_name
    data = await request("GET", ACCOUNT_COSTS_PATH, params=params)
    parse_resource_packs(data)  # an unreadable answer raises here instead of being cached
    return data


async def shared_resource_packs(
    key: tuple[str, str, str], age: float, fetch: Callable[[], Awaitable[Any]]
) -> ResourcePacks:
    """The packs for ``key`` no older than ``age`` seconds; ``fetch`` returns one answer's ``data``."""

    async def from_host() -> ResourcePacks:
        if age <= 0:
            return parse_resource_packs(await fetch())
        return parse_resource_packs(await HostCache(resource_packs_cache_dir()).get(repr(key), age, fetch))

    return await _resource_packs_cache.get(key, age, from_host)


def clear_process_cache() -> None:
    """Forget this process's answers (the per-host files stay until they expire)."""
    _resource_packs_cache.clear()
