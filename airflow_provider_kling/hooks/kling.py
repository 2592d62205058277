"""KlingHook: the Kling endpoints (submit, query, list, packs; speech in hooks/speech.py), async core.

Triggers await the async core on the triggerer's loop; the sync methods run the same coroutines
on a private loop: one retry / idempotency state machine, not two that drift apart. Auth is
``hooks/auth.py``, the HTTP layer (session per loop, envelope, retries) ``hooks/transport.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from airflow.sdk import BaseHook

from airflow_provider_kling import DEFAULT_CONN_ID
from airflow_provider_kling._moved import module_getattr
from airflow_provider_kling.api.account import ResourcePacks
from airflow_provider_kling.api.kinds import TaskKind, get_kind
from airflow_provider_kling.api.requests import KlingRequest
from airflow_provider_kling.api.tasks import KlingTask, parse_task, parse_task_list
from airflow_provider_kling.config import resource_packs_cache_seconds
from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingAuthError,
    KlingConcurrencyLimitError,
    KlingError,
    KlingInvalidRequestError,
    KlingRateLimitError,
    KlingValidationError,
    is_not_found,
)
from airflow_provider_kling.hooks.auth import (
    Credentials,
    JwtCredentials,
    StaticKeyCredentials,
    amask_pending,
    mask_pending,
)
from airflow_provider_kling.hooks.connection import (
    NetSettings,
    base_url,
    legacy_ui_field_behaviour,
    read_extra,
)
from airflow_provider_kling.hooks.new_design import NewDesignTasks
from airflow_provider_kling.hooks.packs_cache import fetch_resource_packs, shared_resource_packs
from airflow_provider_kling.hooks.speech import SpeechHookMixin
from airflow_provider_kling.hooks.transport import (
    RetryPolicy,
    call_with_retries,
    close_shared_session,
    decode_envelope,
    exchange,
    shared_session,
)
from airflow_provider_kling.utils.deprecation import renamed_keyword

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
# What a hook uses when neither its constructor nor the connection's extra sets them (immutable:
# a test or a benchmark that needs other values sets them per connection or per hook).
DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_RETRY = RetryPolicy()

T = TypeVar("T")


class KlingHook(SpeechHookMixin, NewDesignTasks, BaseHook):
    """
    Talk to the Kling AI API (official, or a reseller proxy whose base URL has a path prefix).

    Connection ``kling``: **Host** is the base URL: ``https://api-singapore.klingai.com`` (global,
    the default), ``https://api-beijing.klingai.com`` (China), or a proxy such as
    ``https://www.kkiai.com/kling`` (its path prefix is kept).

    Auth, in the order Kling documents it:

    1. **API key** (official, "for all models", or a proxy's key): leave Login empty and put the
       key in **Password**; every request carries ``Authorization: Bearer <key>``.
    2. **Access key + secret key** (legacy design only): Login is the access key, Password the
       secret key; requests carry an HS256 JWT that is refreshed before it expires. A new-design
       kind (``text-to-video``, ``omni-video``, ...) fails before sending with such a connection.

    The connection's extra may tune the HTTP behaviour (the form shows these fields):
    ``request_timeout`` (seconds per request, default 60), ``max_retries`` (default 5),
    ``retry_min_wait`` and ``retry_max_wait`` (backoff seconds, default 1 and 60), and ``proxies``,
    ``verify``, ``cert`` as on an ``http`` connection (``hooks/connection.py::read_net``). Operators,
    sensors and triggers build their hook from the connection id: a deferred wait uses them too.

    :param kling_conn_id: Airflow connection id of type ``kling``.
    :param timeout: Seconds for one HTTP request (connect + read); overrides the extra.
    :param retry: Backoff policy for transient errors; overrides the extra.
    """

    conn_name_attr = "kling_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "kling"
    hook_name = "Kling AI"

    def __init__(
        self,
        kling_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.kling_conn_id = kling_conn_id
        self._timeout_arg, self._retry_arg = timeout, retry
        # Final once the connection is loaded (``_configure``): argument > extra > module default.
        self.timeout = DEFAULT_REQUEST_TIMEOUT if timeout is None else timeout
        self.retry = retry or DEFAULT_RETRY
        self._base_url: str | None = None
        self._credentials: Credentials | None = None
        self._net = NetSettings()  # proxy and TLS: from the extra, with the connection
        # Secrets (keys, each newly signed JWT) not yet registered with Airflow's masker.
        self._unmasked: list[str] = []

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The Airflow 3.1 connection form (3.2+ reads the provider info): one dict, hooks/connection.py."""
        return legacy_ui_field_behaviour()

    def __repr__(self) -> str:
        return f"<KlingHook conn_id={self.kling_conn_id!r} base_url={self._base_url!r}>"

    # ------------------------------------------------------------------ connection

    def _configure(self, conn: Any) -> None:
        self._base_url = base_url(conn.host, conn.schema, conn.port, DEFAULT_BASE_URL)
        self._apply_extra(conn)
        secret = conn.password or ""
        if not secret:
            raise KlingAuthError(
                f"Connection {self.kling_conn_id!r} has no password: set the secret key (with the access "
                "key as login) or, for a proxy, the API key",
                code=None,
            )
        if conn.login:
            self._credentials = JwtCredentials(conn.login, secret, on_new_token=self._unmasked.append)
        else:
            self._credentials = StaticKeyCredentials(secret)
        self._unmasked.extend([*self._credentials.secrets(), *self._net.secrets()])

    def _apply_extra(self, conn: Any) -> None:
        """Request timeout and retry policy from the extra, unless the constructor set them."""
        extra = read_extra(conn.extra_dejson or {}, self.kling_conn_id)
        self._net = extra.net
        if self._timeout_arg is None:
            self.timeout = DEFAULT_REQUEST_TIMEOUT if extra.request_timeout is None else extra.request_timeout
        if self._retry_arg is None:
            self.retry = DEFAULT_RETRY.overridden_by(extra)

    def _mask_new_secrets(self) -> None:
        mask_pending(self._unmasked)

    async def _amask_new_secrets(self) -> None:
        await amask_pending(self._unmasked)

    def get_conn(self) -> str:
        """Load the connection (once) and return the base URL."""
        if self._base_url is None:
            self._configure(self.get_connection(self.kling_conn_id))
        self._mask_new_secrets()
        assert self._base_url is not None
        return self._base_url

    async def aget_conn(self) -> str:
        if self._base_url is None:
            self._configure(await self.aget_connection(self.kling_conn_id))
        await self._amask_new_secrets()
        assert self._base_url is not None
        return self._base_url

    @property
    def auth_mode(self) -> str:
        self.get_conn()
        assert self._credentials is not None
        return self._credentials.mode

    # ------------------------------------------------------------------ transport

    async def _send_once(self, method: str, path: str, *, params: dict[str, Any] | None, body: Any) -> Any:
        """One HTTP exchange; returns ``data`` or raises a typed error. 401 refreshes a JWT once."""
        base = await self.aget_conn()
        assert self._credentials is not None
        session = shared_session(self._net, base)
        for refreshed in (False, True):
            headers = {
                "Authorization": self._credentials.authorization(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            await self._amask_new_secrets()  # a freshly signed JWT is masked before it is sent
            status, raw, request_id = await exchange(
                session, method, base, path, params=params, body=body, headers=headers, timeout=self.timeout
            )
            try:
                return decode_envelope(status, raw, request_id).data
            except KlingAuthError:
                if refreshed or not self._credentials.invalidate():
                    raise
                self.log.info("Kling answered 401; signing a fresh token and retrying once")
        raise AssertionError("unreachable")

    async def _with_retries(
        self, what: str, call: Callable[[], Awaitable[T]], *, retry_concurrency: bool = True
    ) -> T:
        """Run ``call``, retrying transient errors with backoff; ``retry_concurrency=False`` raises 1303."""
        await self.aget_conn()  # the connection's extra sets the retry policy read below
        return await call_with_retries(what, call, self.retry, self.log, retry_concurrency=retry_concurrency)

    async def arequest(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """An idempotent call with retries. Never used for a paid submit (see ``asubmit_task``)."""
        return await self._with_retries(
            f"{method} {path}", lambda: self._send_once(method, path, params=params, body=body)
        )

    def _run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run an async method from sync code on a private loop, closing its session after."""
        self.get_conn()  # load the connection synchronously: the worker's comms are sync

        async def runner() -> T:
            try:
                return await make()
            finally:
                await close_shared_session()

        return asyncio.run(runner())

    # ------------------------------------------------------------------ endpoints (async)

    @renamed_keyword("kind", "task_kind")
    async def aget_task(self, task_kind: str | TaskKind, ident: str) -> KlingTask:
        """Query one task by Kling ``task_id`` or by your ``external_task_id``."""
        k = get_kind(task_kind)
        if k.design == "new":
            return await self.aget_new_task(k, ident)
        # Quoted: an id with "/", "?" or "#" must not turn into another path (or the list route).
        path = k.task_path(quote(str(ident), safe=""))
        return parse_task(await self.arequest("GET", path), f"{k.name} task {ident}")

    @renamed_keyword("kind", "task_kind")
    async def afind_task(self, task_kind: str | TaskKind, ident: str) -> KlingTask | None:
        """Like :meth:`aget_task` but ``None`` when Kling does not know the id."""
        k = get_kind(task_kind)
        try:
            if k.design == "new":  # an external id first: the look-up before a submit
                return await self.afind_new_task(k, ident, external_first=True)
            return await self.aget_task(k, ident)
        except KlingAPIError as exc:
            if not is_not_found(exc):
                raise
        return None if k.query_by_external_id else await self.afind_in_list(k, ident)

    @renamed_keyword("kind", "task_kind")
    async def alist_tasks(
        self, task_kind: str | TaskKind, page_num: int = 1, page_size: int = 30
    ) -> list[KlingTask]:
        """One page of tasks, newest first (page_num 1..1000, page_size 1..500); legacy design only."""
        k = get_kind(task_kind)
        if k.design == "new":
            raise KlingValidationError(
                f"task_kind: {k.name} (new design) has no page list; use aget_tasks or alist_new_tasks"
            )
        data = await self.arequest("GET", k.path, params={"pageNum": page_num, "pageSize": page_size})
        return parse_task_list(data)

    @renamed_keyword("kind", "task_kind")
    async def asubmit_task(
        self,
        task_kind: str | TaskKind,
        request: KlingRequest | Mapping[str, Any],
        *,
        retry_concurrency: bool = True,
    ) -> KlingTask:
        """
        Submit a paid task so that it is created at most once.

        The request always carries an ``external_task_id`` (a random one when the caller gave
        none). When a POST's outcome is unknown (timeout, reset, 5xx, unreadable answer) or Kling
        refuses the id as a duplicate, the task is looked up by that id before anything is sent
        again. Rate (1302) and concurrency (1303) refusals created nothing and are simply retried;
        with ``retry_concurrency=False`` a 1303 is raised at once, for a caller that waits for a
        free slot itself (``execution.capacity.submit_when_capacity``) instead of retrying in a herd.
        ``request`` is a validated model, or the payload one produced (a deferred submit).
        """
        k = get_kind(task_kind)
        await self.arequire_api_key(k)
        payload = request.to_payload() if isinstance(request, KlingRequest) else dict(request)
        external_id = payload.setdefault("external_task_id", f"airflow-{uuid.uuid4().hex}")

        async def attempt() -> KlingTask:
            try:
                path, body = k.submit_route(payload)
                data = await self._send_once("POST", path, params=None, body=body)
                # Inside the try: an unreadable answer to a POST is an unknown outcome too.
                return parse_task(data, f"answer to the {k.name} submit")
            except (KlingRateLimitError, KlingConcurrencyLimitError):
                raise  # refused before anything was created: plain retry
            except KlingInvalidRequestError:
                # A duplicate external_task_id means an earlier attempt (or Airflow try) landed.
                existing = await self.afind_by_external_id(k, external_id)
                if existing is None:
                    raise
                self.log.info(
                    "Kling already has task %s for external_task_id %s", existing.task_id, external_id
                )
                return existing
            except KlingError as exc:
                if exc.transient:  # the POST may have created the task: look before resending
                    existing = await self.afind_by_external_id(k, external_id)
                    if existing is not None:
                        self.log.info(
                            "Submit outcome was unknown (%s) but Kling has task %s; not submitting again",
                            exc,
                            existing.task_id,
                        )
                        return existing
                raise

        return await self._with_retries(f"Submit {k.name}", attempt, retry_concurrency=retry_concurrency)

    async def aget_resource_packs(
        self, *, resource_pack_name: str | None = None, max_age: float | None = None
    ) -> ResourcePacks:
        """
        The account's resource packs and what remains (``GET /account/costs``).

        Kling asks for at most one call per second here, so an answer is shared for ``max_age``
        seconds (default ``[kling] resource_packs_cache_seconds``, 60) by every hook in the
        process and, through a file in ``[kling] resource_packs_cache_dir``, by every process on
        the host; callers that ask at the same time wait for one call. ``remaining_quantity`` lags
        the real spend by up to 12 h on Kling's side.
        """
        base = await self.aget_conn()
        age = resource_packs_cache_seconds() if max_age is None else max_age
        key = (base, self.kling_conn_id, resource_pack_name or "")
        return await shared_resource_packs(
            key, age, lambda: fetch_resource_packs(self.arequest, resource_pack_name)
        )

    # ------------------------------------------------------------------ endpoints (sync)

    def get_resource_packs(
        self, *, resource_pack_name: str | None = None, max_age: float | None = None
    ) -> ResourcePacks:
        """Sync :meth:`aget_resource_packs`."""
        return self._run_sync(
            lambda: self.aget_resource_packs(resource_pack_name=resource_pack_name, max_age=max_age)
        )

    @renamed_keyword("kind", "task_kind")
    def get_task(self, task_kind: str | TaskKind, ident: str) -> KlingTask:
        return self._run_sync(lambda: self.aget_task(task_kind, ident))

    @renamed_keyword("kind", "task_kind")
    def find_task(self, task_kind: str | TaskKind, ident: str) -> KlingTask | None:
        return self._run_sync(lambda: self.afind_task(task_kind, ident))

    @renamed_keyword("kind", "task_kind")
    def list_tasks(
        self, task_kind: str | TaskKind, page_num: int = 1, page_size: int = 30
    ) -> list[KlingTask]:
        return self._run_sync(lambda: self.alist_tasks(task_kind, page_num, page_size))

    @renamed_keyword("kind", "task_kind")
    def submit_task(self, task_kind: str | TaskKind, request: KlingRequest | Mapping[str, Any]) -> KlingTask:
        return self._run_sync(lambda: self.asubmit_task(task_kind, request))

    def submit_video_to_audio(self, request: KlingRequest) -> KlingTask:
        return self.submit_task("video-to-audio", request)

    def run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run several async hook calls from sync code on one private loop and session."""
        return self._run_sync(make)

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated read: list video-to-audio tasks, pageSize=1.

        Sent once, without retries, by a separate hook: this hook's settings stay as they are.
        """
        probe = KlingHook(self.kling_conn_id, timeout=self._timeout_arg, retry=RetryPolicy(max_retries=0))
        try:
            probe._run_sync(lambda: probe.alist_tasks("video-to-audio", 1, 1))
        except KlingError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to Kling at {probe._base_url} ({probe.auth_mode} auth)"


# 0.1.0 names that moved elsewhere: still importable from here, with a DeprecationWarning.
__getattr__ = module_getattr("hooks.kling")
