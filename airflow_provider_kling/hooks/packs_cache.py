"""The resource-packs answer shared by every hook of a host for ``[kling] resource_packs_cache_seconds``.

Two layers: one per process (every hook, any loop, any thread: concurrent callers make one
call), over a file per host (every task instance is a process of its own: they share one call
too). Kling asks for at most one ``GET /account/costs`` per second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kling.api.account import ResourcePacks, parse_resource_packs
from airflow_provider_kling.config import resource_packs_cache_dir
from airflow_provider_kling.hooks.host_cache import HostCache
from airflow_provider_kling.hooks.single_flight import SingleFlightCache

_resource_packs_cache: SingleFlightCache[ResourcePacks] = SingleFlightCache()


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
