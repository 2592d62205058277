"""One KlingHook per connection id and event loop, renewed after a short expiry: waits share it."""

from __future__ import annotations

import time
import weakref

from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.utils.loop_registry import LoopRegistry

# How long a shared hook (its connection, credentials and JWT) serves before the connection is read
# again. In a triggerer every read is a round-trip to the supervisor; a rotated key still arrives
# within this long, and at once when Kling refuses the old one (``arenewed_after_refusal``).
CONNECTION_TTL_SECONDS = 60.0


class _Entry:
    __slots__ = ("expires", "hook")

    def __init__(self, hook: KlingHook, expires: float) -> None:
        self.hook = hook
        self.expires = expires


# The shared hook of each connection id on each event loop.
_hooks: LoopRegistry[str, _Entry] = LoopRegistry()
# Every hook ``shared_hook`` ever handed out (current or replaced): pollers may hold any of them.
_handed_out: weakref.WeakSet[KlingHook] = weakref.WeakSet()


def _install(conn_id: str, hook: KlingHook, ttl: float | None = None) -> KlingHook:
    _handed_out.add(hook)
    _hooks.set(conn_id, _Entry(hook, time.monotonic() + (CONNECTION_TTL_SECONDS if ttl is None else ttl)))
    return hook


def shared_hook(conn_id: str, *, ttl: float | None = None) -> KlingHook:
    """This loop's hook for ``conn_id``; a new one (reading the connection afresh) once it is ``ttl`` s old.

    ``ttl`` (default ``CONNECTION_TTL_SECONDS``) applies to a hook this call creates; an existing
    one keeps the expiry it was made with.
    """
    entry = _hooks.get(conn_id)
    if entry is None or time.monotonic() >= entry.expires:
        return _install(conn_id, KlingHook(conn_id), ttl)
    return entry.hook


def is_shared(hook: KlingHook) -> bool:
    """Whether ``shared_hook`` handed ``hook`` out (it may have been replaced since)."""
    return hook in _handed_out


def renewed(hook: KlingHook) -> KlingHook:
    """The connection's current shared hook if ``shared_hook`` ever handed ``hook`` out, else ``hook``.

    A poller outlives its waits (a triggerer's loop runs for days) and several pollers (kinds,
    intervals) hold the same hook: each round asks for its hook here, so a changed connection
    reaches every wait that started before the change, whichever poller renewed first.
    """
    if not is_shared(hook):
        return hook  # a blocking operator's own hook
    return shared_hook(hook.kling_conn_id)


async def arenewed_after_refusal(hook: KlingHook) -> KlingHook | None:
    """After Kling refused ``hook``'s credentials: the shared hook to retry with, if any.

    The current shared hook when it differs from ``hook`` in what Kling checks (another poller
    already renewed it), else a new one if the connection changed since. ``None`` when the
    connection still holds what Kling refused (the refusal stands: no retry), or when ``hook``
    is not a shared one (a blocking operator's own hook).
    """
    if not is_shared(hook):
        return None
    conn_id = hook.kling_conn_id
    current = shared_hook(conn_id)
    if current is not hook:
        try:
            await current.aget_conn()
        except Exception:
            return None
        if _identity(current) != _identity(hook):
            return current
    fresh = KlingHook(conn_id)
    try:
        await fresh.aget_conn()
    except Exception:
        return None
    if _identity(fresh) == _identity(hook):
        return None
    return _install(conn_id, fresh)


def _identity(hook: KlingHook) -> tuple[object, ...]:
    """What decides whether Kling accepts a hook's requests: base URL and credentials."""
    credentials = hook._credentials
    return (hook._base_url, type(credentials), credentials.identity() if credentials else ())
