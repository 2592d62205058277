"""Kling's new API design on the hook: tasks read in batches through ``GET /tasks``, API key only.

The new design has no per-family query path: ``GET /tasks?task_ids=a,b`` (or
``external_task_ids=``) answers ``data[]`` with the tasks Kling knows among the ids, whatever
their family; an unknown id is simply absent (docs/kling-api.md#new-design). AK/SK
(JWT) auth is refused by the new design, so a JWT connection fails here before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

from airflow_provider_kling.api.kinds import NEW_DESIGN_TASKS_PATH, TaskKind, get_kind
from airflow_provider_kling.api.tasks import KlingTask, parse_task, parse_task_list, raw_task_ids
from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingInvalidRequestError,
    KlingResponseError,
    KlingValidationError,
    is_not_found,
)
from airflow_provider_kling.hooks.connection import UI_FIELD_BEHAVIOUR

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.auth import Credentials

T = TypeVar("T")

IdKey = Literal["task_ids", "external_task_ids"]
# Kling documents no batch size for GET /tasks. 100 ids is POST /tasks' default page size, and
# a query string of at most ~4 KB keeps the request line well inside the 8 KB that common
# proxies and servers accept (nginx's large_client_header_buffers, Node, Apache's LimitRequestLine),
# whatever the ids' length: a reseller in front of Kling must not turn a batch into a 414.
MAX_IDS_PER_QUERY = 100
MAX_QUERY_CHARS = 4000
MAX_LIST_LIMIT = 500  # POST /tasks ``limit`` (docs/kling-api.md#new-design)
NEW_STATUSES = ("submitted", "processing", "succeeded", "failed")


@dataclass(frozen=True)
class NewTaskPage:
    """One page of ``POST /tasks``: new-design tasks newest first, and where the next page starts."""

    tasks: list[KlingTask]
    count: int | None  # tasks matching the window and filters in all
    next_cursor: str | None
    has_more: bool


def id_batches(ids: Iterable[str], *, key: IdKey = "task_ids") -> list[list[str]]:
    """``ids`` (deduplicated, order kept) cut into batches of at most ``MAX_IDS_PER_QUERY`` ids
    whose encoded query ``key=a,b,...`` stays within ``MAX_QUERY_CHARS``."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = len(key) + 1
    for ident in dict.fromkeys(str(i) for i in ids):
        cost = len(quote(ident, safe="")) + 3  # the encoded comma ("%2C") before it
        if current and (len(current) >= MAX_IDS_PER_QUERY or size + cost > MAX_QUERY_CHARS):
            batches.append(current)
            current, size = [], len(key) + 1
        current.append(ident)
        size += cost
    if current:
        batches.append(current)
    return batches


def api_key_only_message(conn_id: str, kind: TaskKind) -> str:
    labels = UI_FIELD_BEHAVIOUR["relabeling"]
    return (
        f"task_kind: {kind.name} uses Kling's new API design, which accepts an API key only, but "
        f"connection {conn_id!r} signs JWTs with an access key + secret key (legacy design only). "
        f"Create an API key in the Kling console (kling.ai/dev/api-key), put it in the connection's "
        f"password ({labels['password']!r}) and leave its login ({labels['login']!r}) empty; or use a "
        "second connection with the API key for new-design models"
    )


class NewDesignTasks:
    """The new design's task queries; :class:`~airflow_provider_kling.hooks.kling.KlingHook` inherits them."""

    if TYPE_CHECKING:
        kling_conn_id: str
        _credentials: Credentials | None

        def get_conn(self) -> str: ...

        async def aget_conn(self) -> str: ...

        async def arequest(
            self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
        ) -> Any: ...

        def _run_sync(self, make: Callable[[], Awaitable[T]]) -> T: ...

        async def afind_task(self, task_kind: str | TaskKind, ident: str) -> KlingTask | None: ...

    async def arequire_api_key(self, kind: TaskKind) -> None:
        """Refuse, before anything is sent, a JWT connection for a new-design kind."""
        if kind.design == "new":
            await self.aget_conn()
            self._refuse_jwt(kind)

    def require_api_key(self, kind: TaskKind) -> None:
        """Sync :meth:`arequire_api_key`: an operator checks it before its budget check sends anything."""
        if kind.design == "new":
            self.get_conn()
            self._refuse_jwt(kind)

    def _refuse_jwt(self, kind: TaskKind) -> None:
        assert self._credentials is not None
        if self._credentials.mode == "jwt":
            raise KlingValidationError(api_key_only_message(self.kling_conn_id, kind))

    async def aget_tasks(
        self, ids: Iterable[str], *, by: IdKey | Literal["any"] = "any"
    ) -> dict[str, KlingTask]:
        """The tasks Kling knows among ``ids``, keyed by the id asked for; unknown ids are absent.

        One ``GET /tasks`` per batch (``id_batches``). ``by="any"`` reads the ids as Kling task
        ids first, then the ones not found as your external task ids (one more batched call).
        """
        found: dict[str, KlingTask] = {}
        async for answered in self.aiter_task_entries(ids, by=by):
            for ident, entry in answered:
                found[ident] = parse_task(entry, "task list entry")
        return found

    async def aiter_task_entries(
        self, ids: Iterable[str], *, by: IdKey | Literal["any"] = "any"
    ) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
        """:meth:`aget_tasks` unparsed: each ``GET /tasks`` answer as soon as it is read, as
        (id asked for, raw task object) pairs, each id once; a poller parses only what changed."""
        await self.arequire_api_key(_ANY_NEW_KIND)
        wanted = list(dict.fromkeys(str(i) for i in ids))
        found: set[str] = set()
        for key in ("task_ids", "external_task_ids") if by == "any" else (by,):
            missing = [i for i in wanted if i not in found]
            for batch in id_batches(missing, key=key) if missing else []:
                data = await self.arequest("GET", NEW_DESIGN_TASKS_PATH, params={key: ",".join(batch)})
                if not isinstance(data, list):
                    raise KlingResponseError(
                        f"Kling's task list has no list in 'data' (got {type(data).__name__})"
                    )
                asked, answered = set(batch), []
                for entry in data:
                    ident = raw_task_ids(entry)[0 if key == "task_ids" else 1]
                    if ident is not None and ident in asked and ident not in found:
                        found.add(ident)
                        answered.append((ident, entry))
                yield answered

    async def afind_new_task(self, kind: TaskKind, ident: str, *, external_first: bool) -> KlingTask | None:
        """One task by Kling id or ``external_task_id`` (``external_first``: the look-up before a
        submit, whose id is always an external one, usually costs one call), else ``None``."""
        await self.arequire_api_key(kind)
        order: tuple[IdKey, IdKey] = ("task_ids", "external_task_ids")
        for key in reversed(order) if external_first else order:
            task = (await self.aget_tasks([ident], by=key)).get(str(ident))
            if task is not None:
                return task
        return None

    async def afind_by_external_id(self, task_kind: str | TaskKind, external_id: str) -> KlingTask | None:
        """The task submitted under ``external_id``, else ``None``: the look-up before a (re)submit.

        Legacy design: :meth:`afind_task` (its query takes either id). New design: one
        ``GET /tasks?external_task_ids=``, no second call trying the id as a Kling task id.
        """
        kind = get_kind(task_kind)
        if kind.design != "new":
            return await self.afind_task(kind, external_id)
        await self.arequire_api_key(kind)
        try:
            return (await self.aget_tasks([external_id], by="external_task_ids")).get(str(external_id))
        except KlingAPIError as exc:
            if is_not_found(exc):  # a server that refuses an unknown id instead of leaving it out
                return None
            raise

    def find_by_external_id(self, task_kind: str | TaskKind, external_id: str) -> KlingTask | None:
        """Sync :meth:`afind_by_external_id`."""
        return self._run_sync(lambda: self.afind_by_external_id(task_kind, external_id))

    async def aget_new_task(self, kind: TaskKind, ident: str) -> KlingTask:
        """Like :meth:`afind_new_task`, raising the not-found error of a legacy ``GET …/{id}``."""
        task = await self.afind_new_task(kind, ident, external_first=False)
        if task is None:
            raise KlingInvalidRequestError(
                f"Kling does not know {kind.name} task {ident!r}: GET {NEW_DESIGN_TASKS_PATH} answered "
                "without it (neither as task id nor as external_task_id)"
            )
        return task

    async def alist_new_tasks(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        statuses: Sequence[str] | None = None,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
    ) -> NewTaskPage:
        """One page of the account's new-design tasks, every family, newest first (``POST /tasks``).

        Pass the previous page's ``next_cursor`` for the next one (Kling then ignores the times;
        default window: the last 30 days). ``statuses`` filters by the new design's spelling
        (``succeeded``). Times go as strings of milliseconds, as most of Kling's examples send them.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise KlingValidationError(f"limit: must be an integer from 1 to {MAX_LIST_LIMIT}, got {limit!r}")
        unknown = sorted(set(statuses or ()) - set(NEW_STATUSES))
        if unknown:
            raise KlingValidationError(f"statuses: must be among {NEW_STATUSES}, got {unknown}")
        await self.arequire_api_key(_ANY_NEW_KIND)
        body: dict[str, Any] = {"limit": limit}
        if cursor:
            body["cursor"] = cursor
        for name, value in (("start_time", start_time_ms), ("end_time", end_time_ms)):
            if value is not None:
                body[name] = str(int(value))
        if statuses:
            body["filters"] = [{"key": "status", "values": list(statuses)}]
        data = await self.arequest("POST", NEW_DESIGN_TASKS_PATH, body=body)
        if not isinstance(data, dict):
            raise KlingResponseError(f"Kling's POST {NEW_DESIGN_TASKS_PATH} answer has no object in 'data'")
        count = data.get("count")
        return NewTaskPage(
            tasks=parse_task_list(data.get("result") or []),
            count=int(count) if isinstance(count, (int, str)) and str(count).isdigit() else None,
            next_cursor=str(data.get("next_cursor") or "") or None,
            has_more=bool(data.get("has_more")),
        )

    def list_new_tasks(self, **kwargs: Any) -> NewTaskPage:
        """Sync :meth:`alist_new_tasks`."""
        return self._run_sync(lambda: self.alist_new_tasks(**kwargs))

    def get_tasks(self, ids: Iterable[str], *, by: IdKey | Literal["any"] = "any") -> dict[str, KlingTask]:
        """Sync :meth:`aget_tasks`."""
        wanted = list(ids)
        return self._run_sync(lambda: self.aget_tasks(wanted, by=by))


# Every new-design family shares GET /tasks and the API-key rule: any of them names the design.
_ANY_NEW_KIND = TaskKind("new design (GET /tasks)", NEW_DESIGN_TASKS_PATH, None, design="new")
