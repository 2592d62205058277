"""The new-design routes: creates under ``/{family}/{model}``, ``GET/POST /tasks``; API keys only.

Contract: KLING_API §0 and §1 (API keys only), §8 (paths, bodies, answers), §5 (new-format
callbacks with the Webhook Signature), §6 (one parallel-task limit for both designs).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import ClientSession, ClientTimeout, web

from kling_emulator import bodies, callbacks
from kling_emulator.auth import authenticate
from kling_emulator.errors import KlingAPIFailure, envelope
from kling_emulator.field_checks import invalid
from kling_emulator.new_render import created_answer, is_new, kind_for, render_new, status_of, units
from kling_emulator.new_rules import FAMILIES, check_options, validate_new
from kling_emulator.state import EmulatedTask, EmulatorConfig

if TYPE_CHECKING:
    from kling_emulator.app import KlingEmulator

# GET /tasks batch cap: Kling documents none (§8.4); 500 is the largest page the API documents
# anywhere (POST /tasks ``limit``, legacy ``pageSize``), so a client paging by those fits.
MAX_BATCH = 500
MAX_LIMIT, DEFAULT_LIMIT = 500, 100
DAY_MS = 86_400_000
STATUSES = ("submitted", "processing", "succeeded", "failed")
PRODUCT_TYPES = ("video", "image", "try_on")
API_KEYS_ONLY = (
    "The new API accepts API keys only (Authorization: Bearer <API key>); "
    "AK/SK JWTs work with the legacy /v1 endpoints only"
)

Handler = Callable[[web.Request, str, str], Any]


def api_key_only(request: web.Request, config: EmulatorConfig) -> str:
    """The caller's account for a new-design route: an API key; a JWT gets 1002 (HTTP 401)."""
    _, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if token and token not in config.api_keys and _is_jwt(token):
        raise KlingAPIFailure(1002, API_KEYS_ONLY)
    return authenticate(request, config)  # 1001 empty, 1002 anything else that is no API key


def _is_jwt(token: str) -> bool:
    try:
        jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return True


def new_design_routes(emulator: KlingEmulator) -> list[tuple[str, str, Handler, str]]:
    """(method, path under the prefix, handler, kind) of every new-design route."""
    found: list[tuple[str, str, Handler, str]] = [
        ("POST", f"/{family}/{{model:[A-Za-z0-9._-]+}}", functools.partial(create, emulator), family)
        for family in FAMILIES
    ]
    found.append(("GET", "/tasks", functools.partial(query_tasks, emulator), "tasks"))
    found.append(("POST", "/tasks", functools.partial(list_tasks, emulator), "tasks"))
    return found


async def create(emulator: KlingEmulator, request: web.Request, family: str, owner: str) -> web.Response:
    """``POST /{family}/{model}``: check, admit (duplicate id, 1303, 1102), answer ``data{id,status,...}``."""
    model = request.match_info["model"]
    store, config = emulator.store, emulator.config
    body = await bodies.json_object(request, config.max_body_bytes)
    made = validate_new(family, model, body)
    external_id, callback_url = check_options(body, f"{family}/{model}")
    task = EmulatedTask(
        task_id=store.new_id(),
        kind=kind_for(family, model),
        owner=owner,
        external_task_id=external_id,
        request=body,
        created=time.time(),
        duration=made.seconds,
        fail_message=emulator._fail_message({"prompt": made.prompt}, external_id),
        callback_url=callback_url,
    )
    charge = units(task, config)
    emulator._admit(owner, external_id, units=charge)  # 1201 duplicate, 1303 limit, 1102 packs
    task.video_ids = [store.new_id()]
    store.videos[task.video_ids[0]] = made.seconds  # a later video-to-audio may name it
    emulator._remember_video_url(task, request)
    store.add(task)
    emulator.stats.submits += 1
    emulator.stats.peak_running = max(emulator.stats.peak_running, store.running(owner, config))
    if task.fail_message is None:  # charged once it has finished, like a legacy task
        emulator.ledger.record(task.task_id, task.finishes_at(config), charge)
    if task.callback_url:
        emulator._spawn(send_callbacks(emulator, task, emulator._results_base(request)))
    return web.json_response(envelope(0, "SUCCEED", created_answer(task)))


def _ids(request: web.Request) -> tuple[str, list[str]]:
    given = {
        name: list(dict.fromkeys(i.strip() for i in request.query.get(name, "").split(",") if i.strip()))
        for name in ("task_ids", "external_task_ids")
    }
    present = [name for name, ids in given.items() if ids]
    if len(present) != 1:
        raise invalid("Exactly one of task_ids or external_task_ids is required (comma-separated ids)")
    name = present[0]
    wanted = given[name]
    if len(wanted) > MAX_BATCH:
        raise invalid(f"{name} has {len(wanted)} ids; at most {MAX_BATCH} are allowed in one query")
    return name, wanted


async def query_tasks(emulator: KlingEmulator, request: web.Request, kind: str, owner: str) -> web.Response:
    """``GET /tasks?task_ids=a,b`` xor ``?external_task_ids=``: the caller's new-design tasks, in the
    order asked; an unknown id (or a legacy task's) is simply absent (Kling leaves it open, §8.4)."""
    name, wanted = _ids(request)
    store, found = emulator.store, []
    for ident in wanted:
        task_id = ident if name == "task_ids" else store.by_external.get((owner, ident))
        task = store.tasks.get(task_id) if task_id else None
        if task is not None and task.owner == owner and is_new(task):
            found.append(render_new(task, emulator.config, emulator._results_base(request)))
    return web.json_response(envelope(0, "SUCCEED", found))


def _millis(body: dict[str, Any], name: str, default: int) -> int:
    """A time in ms, as an integer or a numeric string (the docs show both, §8.4)."""
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise invalid(f"{name} must be a time in milliseconds (an integer or a numeric string), got {value!r}")


def _limit(body: dict[str, Any]) -> int:
    value = body.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT} (got {value!r})")
    return value


def _filters(body: dict[str, Any]) -> dict[str, set[str]]:
    raw = body.get("filters")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise invalid("filters must be an array of {key, values}")
    allowed = {"status": STATUSES, "product_type": PRODUCT_TYPES}
    wanted: dict[str, set[str]] = {}
    for i, item in enumerate(raw):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or key not in allowed:
            raise invalid(f"filters[{i}].key must be status or product_type")
        values = item.get("values")
        if not isinstance(values, list) or not values or any(v not in allowed[key] for v in values):
            raise invalid(f"filters[{i}].values must be a non-empty list from {', '.join(allowed[key])}")
        wanted.setdefault(key, set()).update(values)
    return wanted


def _cursor(start: int, end: int, last: tuple[int, str]) -> str:
    raw = json.dumps({"s": start, "e": end, "t": last[0], "i": last[1]}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _read_cursor(cursor: Any) -> tuple[int, int, tuple[int, str]]:
    try:
        if not isinstance(cursor, str):
            raise ValueError
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(values["s"]), int(values["e"]), (int(values["t"]), str(values["i"]))
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise invalid("cursor is invalid: pass the next_cursor of the previous answer") from None


async def list_tasks(emulator: KlingEmulator, request: web.Request, kind: str, owner: str) -> web.Response:
    """``POST /tasks``: the caller's new-design tasks, newest first, by cursor (§8.4).

    ``count`` is how many tasks match the window and filters in all; legacy-design tasks are
    not listed (Kling leaves it open; its filters offer only video/image/try_on products).
    """
    body = await bodies.json_object(request, emulator.config.max_body_bytes, empty_ok=True)
    limit, filters = _limit(body), _filters(body)
    after: tuple[int, str] | None = None
    if body.get("cursor") not in (None, ""):
        start, end, after = _read_cursor(body["cursor"])  # the times are ignored with a cursor
    else:
        end = _millis(body, "end_time", int(time.time() * 1000))
        start = _millis(body, "start_time", end - 30 * DAY_MS)
        if start >= end:
            raise invalid("start_time must be before end_time")
    config = emulator.config

    def key(task: EmulatedTask) -> tuple[int, str]:
        return int(task.created * 1000), task.task_id

    matching = sorted(
        (
            t
            for t in emulator.store.tasks.values()
            if t.owner == owner
            and is_new(t)
            and start <= key(t)[0] <= end
            and status_of(t, config) in filters.get("status", STATUSES)
            and "video" in filters.get("product_type", PRODUCT_TYPES)
        ),
        key=key,
        reverse=True,
    )
    rest = [t for t in matching if after is None or key(t) < after]
    page, has_more = rest[:limit], len(rest) > limit
    base = emulator._results_base(request)
    data = {
        "result": [render_new(t, config, base) for t in page],
        "count": len(matching),
        "next_cursor": _cursor(start, end, key(page[-1])) if has_more else "",
        "has_more": has_more,
    }
    return web.json_response(envelope(0, "SUCCEED", data))


async def send_callbacks(emulator: KlingEmulator, task: EmulatedTask, results_base: str) -> None:
    """POST the new-format task object (§5) on every status change, signed when a secret is set."""
    config = emulator.config
    sent = "submitted"  # the create answer reported that one
    for change in (task.created + config.submitted_seconds, task.finishes_at(config)):
        moment = change + 0.01  # just past the change (see KlingEmulator._send_callbacks)
        await asyncio.sleep(max(0.0, moment - time.time()))
        payload = render_new(task, config, results_base, max(moment, time.time()))
        if payload["status"] == sent:
            continue
        sent = payload["status"]
        try:
            if emulator._client is None or emulator._client.closed:
                emulator._client = ClientSession(timeout=ClientTimeout(total=10))
            body, headers = callbacks.callback_request(payload, config.webhook_secret)
            async with emulator._client.post(str(task.callback_url), data=body, headers=headers) as answer:
                await answer.read()
            emulator.stats.callbacks_sent += 1
        except Exception:
            emulator.stats.callbacks_failed += 1
