"""The HTTP layer under KlingHook: one shared session per event loop, Kling's envelope, retry with backoff.

All hooks on one event loop with the same proxy and TLS settings share one ``aiohttp.ClientSession``,
so a triggerer with thousands of waits keeps a small pool of keep-alive connections instead of
opening a TCP (and TLS) connection per poll; connections with other settings (``NetSettings``)
get their own session, so no pool is shared across a proxy or a CA bundle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_kling.api.tasks import Envelope, parse_model
from airflow_provider_kling.exceptions import (
    KlingConcurrencyLimitError,
    KlingError,
    KlingResponseError,
    KlingTLSError,
    KlingTransportError,
    api_error,
)
from airflow_provider_kling.utils.loop_registry import LoopRegistry

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_kling.hooks.connection import ExtraSettings, NetSettings

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient errors (1302, 1303, 5xx, network)."""

    max_retries: int = 5
    min_wait: float = 1.0
    max_wait: float = 60.0
    # 1303 means the account already runs its maximum of parallel tasks: those free up
    # in minutes, not seconds, so wait longer than for a plain rate limit.
    concurrency_factor: float = 4.0

    def overridden_by(self, extra: ExtraSettings) -> RetryPolicy:
        """This policy with what a connection's extra sets."""
        return dataclasses.replace(
            self,
            max_retries=self.max_retries if extra.max_retries is None else extra.max_retries,
            min_wait=self.min_wait if extra.retry_min_wait is None else extra.retry_min_wait,
            max_wait=self.max_wait if extra.retry_max_wait is None else extra.retry_max_wait,
        )

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to sleep before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.min_wait * (2 ** (attempt - 1)))
        if isinstance(error, KlingConcurrencyLimitError):
            ceiling = min(self.max_wait * self.concurrency_factor, ceiling * self.concurrency_factor)
        return random.uniform(ceiling / 2, ceiling)


# The key of a session: the connection's settings and the proxy picked for its base URL.
_SessionKey = tuple["NetSettings | None", "str | None"]


@dataclass
class _LoopSession:
    """This loop's shared sessions (one per proxy/TLS setting) and how many users (triggers) hold them."""

    sessions: dict[_SessionKey, aiohttp.ClientSession] = dataclasses.field(default_factory=dict)
    users: int = 0


# Shared ClientSessions per event loop (triggerer loop, or the private loop of a sync call).
_SESSION = "session"
_sessions: LoopRegistry[str, _LoopSession] = LoopRegistry()
# The proxy of each shared session, passed per request (``ClientSession(proxy=)`` needs aiohttp 3.10+).
_proxy_of: weakref.WeakKeyDictionary[aiohttp.ClientSession, str] = weakref.WeakKeyDictionary()


def shared_session(net: NetSettings | None = None, base: str = "") -> aiohttp.ClientSession:
    """This loop's session for ``net`` (proxy, TLS) and the proxy it picks for ``base``.

    Its connector carries the TLS settings (``ssl=``); ``exchange`` sends its requests through
    the proxy picked here.
    """
    import aiohttp

    state = _sessions.get_or_create(_SESSION, _LoopSession)
    proxy = net.proxy_for(base) if net is not None else None
    key = (net, proxy)
    session = state.sessions.get(key)
    if session is None or session.closed:
        ssl = True if net is None else net.ssl_context()
        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60, ssl=ssl)
        trust_env = True if net is None else net.trust_env
        session = aiohttp.ClientSession(connector=connector, trust_env=trust_env)
        if proxy:
            _proxy_of[session] = proxy
        state.sessions[key] = session
    return session


async def close_shared_session() -> None:
    """Close this loop's shared sessions (the sync wrappers call it before their loop ends)."""
    state = _sessions.get(_SESSION)
    if state is None or not state.sessions:
        return
    sessions, state.sessions = state.sessions, {}  # users stay counted: the next call opens new ones
    for session in sessions.values():
        if not session.closed:
            await session.close()


class _SessionScope:
    """``async with shared_session_scope():`` (a small object, not a generator: one per wait)."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        _sessions.get_or_create(_SESSION, _LoopSession).users += 1

    async def __aexit__(self, *exc: object) -> None:
        state = _sessions.get_or_create(_SESSION, _LoopSession)
        state.users -= 1
        if not state.users:
            await close_shared_session()


_SCOPE = _SessionScope()


def shared_session_scope() -> _SessionScope:
    """Keep this loop's shared session open while any user (a trigger) is inside; close after the last.

    A triggerer keeps one session across all of its waits; a short-lived loop (``dag.test()``
    runs each trigger on its own) does not leave an unclosed session behind.
    """
    return _SCOPE


def decode_envelope(status: int, body: bytes, request_id_header: str | None) -> Envelope:
    """Turn an HTTP answer into an Envelope, raising the typed error for ``code != 0``."""
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        payload = None
        if status >= 400:
            raise api_error(
                f"HTTP {status} with a non-JSON body",
                code=None,
                http_status=status,
                request_id=request_id_header,
            ) from None
        raise KlingResponseError(f"Kling answered HTTP {status} with a body that is not JSON") from None
    if not isinstance(payload, dict) or "code" not in payload:
        if status >= 400:
            raise api_error(
                f"HTTP {status} without a Kling error envelope",
                code=None,
                http_status=status,
                request_id=request_id_header,
            )
        shown = (
            "empty body"
            if payload in (None, {})
            else f"keys {sorted(payload)[:6]}"
            if isinstance(payload, dict)
            else type(payload).__name__
        )
        raise KlingResponseError(
            f"Kling's answer has no 'code' field ({shown}); expected an envelope "
            "{code, message, request_id, data}"
        )
    envelope: Envelope = parse_model(Envelope, payload, "response envelope")
    if envelope.code != 0:
        raise api_error(
            envelope.message or "",
            code=envelope.code,
            http_status=status,
            request_id=envelope.request_id or request_id_header,
        )
    if status >= 400:
        raise api_error(envelope.message or "", code=None, http_status=status, request_id=envelope.request_id)
    return envelope


async def call_with_retries(
    what: str,
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    log: logging.Logger | Any,
    *,
    retry_concurrency: bool = True,
) -> T:
    """Run ``call``, retrying transient errors with backoff (tenacity); others raise at once.

    ``retry_concurrency=False`` raises a 1303 at once: the caller waits for capacity itself.
    """
    from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

    def retryable(error: BaseException) -> bool:
        if not retry_concurrency and isinstance(error, KlingConcurrencyLimitError):
            return False
        return isinstance(error, KlingError) and error.transient

    def wait(state: RetryCallState) -> float:
        return policy.wait_seconds(state.attempt_number, state.outcome.exception() if state.outcome else None)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: transient error (%s); retry %d/%d in %.1fs",
            what,
            error,
            state.attempt_number,
            policy.max_retries,
            state.next_action.sleep if state.next_action else 0,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_retries + 1),
        wait=wait,
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    base: str,
    path: str,
    *,
    params: dict[str, Any] | None,
    body: Any,
    headers: dict[str, str],
    timeout: float,
) -> tuple[int, bytes, str | None]:
    """One HTTP request: (status, raw body, ``X-Request-Id``); no answer becomes ``KlingTransportError``."""
    import aiohttp

    try:
        async with session.request(
            method,
            base + path,
            params=params,
            json=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout)),
            proxy=_proxy_of.get(session),
        ) as response:
            return response.status, await response.read(), response.headers.get("X-Request-Id")
    except asyncio.TimeoutError:
        raise KlingTransportError(f"{method} {path}: no answer from Kling within {timeout:.0f}s") from None
    except aiohttp.ClientConnectorCertificateError as exc:
        # Not transient: the same certificate fails the same way on every retry.
        raise KlingTLSError(
            f"{method} {path}: the TLS certificate of {exc.host}:{exc.port} is not trusted "
            f"({exc.certificate_error}). If Kling is reached through a proxy or gateway with its own CA, "
            "set the connection extra 'verify' to the path of that CA bundle"
        ) from None
    except aiohttp.ClientError as exc:
        raise KlingTransportError(
            f"{method} {path}: {type(exc).__name__}: {_hide_proxy(exc, session)}"
        ) from None


def _hide_proxy(exc: BaseException, session: aiohttp.ClientSession) -> str:
    """The error text without a proxy password (aiohttp may quote the proxy URL)."""
    from airflow_provider_kling.hooks.connection import redact_proxy

    text, proxy = str(exc), _proxy_of.get(session)
    return text.replace(str(proxy), redact_proxy(str(proxy))) if proxy else text
