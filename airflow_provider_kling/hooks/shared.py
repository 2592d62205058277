"""One KlingHook per connection id and event loop, renewed after a short expiry: waits share it."""

from __future__ import annotations

import time

from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.utils.loop_registry import LoopRegistry

# How long a shared hook (its connection, credentials and JWT) serves before the connection is read
# again. In a triggerer every read is a round-trip to the supervisor; a rotated key still arrives
# within this long, and at once when Kling refuses the old one (``renewed_after_refusal``).
CONNECTION_TTL_SECONDS = 60.0


class _Entry:
    __slots__ = ("expires", "hook")

    def __init__(self, hook: KlingHook, expires: float) -> None:
        self.hook = hook
        self.expires = expires


# The shared hook of each connection id on each event loop.
_hooks: LoopRegistry[str, _Entry] = LoopRegistry()


def shared_hook(conn_id: str, *, ttl: float = CONNECTION_TTL_SECONDS) -> KlingHook:
    """This loop's hook for ``conn_id``; a new one (reading the connection afresh) once it is ``ttl`` s old.

    ``ttl`` applies to a hook this call creates; an existing one keeps the expiry it was made with.
    """
    now = time.monotonic()
    entry = _hooks.get(conn_id)
    if entry is None or now >= entry.expires:
        entry = _Entry(KlingHook(conn_id), now + ttl)
        _hooks.set(conn_id, entry)
    return entry.hook


def renewed(hook: KlingHook) -> KlingHook:
    """The connection's current shared hook if ``hook`` is an expired shared one, else ``hook``.

    A poller outlives its waits (a triggerer's loop runs for days): each round asks for its hook
    here, so a changed connection reaches waits that started before the change.
    """
    entry = _hooks.get(hook.kling_conn_id)
    if entry is None or entry.hook is not hook:
        return hook
    return shared_hook(hook.kling_conn_id)


async def arenewed_after_refusal(hook: KlingHook) -> KlingHook | None:
    """After Kling refused ``hook``'s credentials: a new shared hook if the connection changed since.

    ``None`` when the connection still holds what Kling refused (the refusal stands: no retry),
    or when ``hook`` is not the shared one (a blocking operator's own hook).
    """
    entry = _hooks.get(hook.kling_conn_id)
    if entry is None or entry.hook is not hook:
        return None
    fresh = KlingHook(hook.kling_conn_id)
    try:
        await fresh.aget_conn()
    except Exception:
        return None
    if _identity(fresh) == _identity(hook):
        return None
    _hooks.set(hook.kling_conn_id, _Entry(fresh, time.monotonic() + CONNECTION_TTL_SECONDS))
    return fresh


def _identity(hook: KlingHook) -> tuple[object, ...]:
    """What decides whether Kling accepts a hook's requests: base URL and credentials."""
    credentials = hook._credentials
    return (hook._base_url, type(credentials), tuple(credentials.secrets()[:1]) if credentials else ())
