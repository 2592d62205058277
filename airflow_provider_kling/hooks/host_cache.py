"""A JSON answer shared by the processes of one host, through a file and an ``flock``.

Airflow runs every task instance in a process of its own, so an in-process cache cannot make
50 mapped tasks that start together share one call: each process would make its first one.
Here the first process takes the key's lock, calls, and writes the answer; the others wait
for the lock and read it. The lock is polled without blocking (a cancelled or timed-out
caller leaves at once), and after ``lock_timeout`` a caller stops waiting and calls itself.
Any file system trouble makes the caller call directly: the cache only saves calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.05


class HostCache:
    """Answers younger than ``max_age`` seconds, kept as ``<sha256 of key>.json`` in ``directory``."""

    def __init__(self, directory: str | Path, lock_timeout: float = 120.0) -> None:
        self.directory = Path(directory)
        self.lock_timeout = lock_timeout

    async def get(self, key: str, max_age: float, fetch: Callable[[], Awaitable[Any]]) -> Any:
        name = hashlib.sha256(key.encode()).hexdigest()
        path = self.directory / f"{name}.json"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.debug("Host cache unavailable in %s (%s): calling directly", self.directory, exc)
            return await fetch()
        try:
            await self._lock(fd)
            cached = _read(path, max_age)
            if cached is not None:
                return cached[0]
            value = await fetch()
            _write(path, value)
            return value
        finally:
            os.close(fd)  # releases the lock

    async def _lock(self, fd: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("Host cache lock held for over %.0fs: calling without it", self.lock_timeout)
                    return
                await asyncio.sleep(LOCK_POLL_SECONDS)


def _read(path: Path, max_age: float) -> tuple[Any] | None:
    """``(value,)`` when the file holds an answer younger than ``max_age``, else None."""
    try:
        entry = json.loads(path.read_text())
        age = time.time() - float(entry["written_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (entry["value"],) if 0 <= age < max_age else None


def _write(path: Path, value: Any) -> None:
    """Write atomically (temporary name, then rename): a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        temporary.write_text(json.dumps({"written_at": time.time(), "value": value}))
        temporary.replace(path)
    except (OSError, TypeError, ValueError) as exc:
        log.debug("Could not write the host cache file %s: %s", path, exc)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
