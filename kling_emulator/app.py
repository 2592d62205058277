"""The Kling emulator's HTTP API (aiohttp), written from the contract in docs/kling-api.md.

It deliberately shares no validation code with the client: it checks requests on its own,
so a client bug is caught rather than mirrored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from kling_emulator import billing, bodies, callbacks, extra_routes, media, outputs, probe
from kling_emulator.auth import authenticate
from kling_emulator.errors import (
    KlingAPIFailure,
    envelope,
    error_response,
    unmatched_route_response,
)
from kling_emulator.new_design import api_key_only, new_design_routes
from kling_emulator.new_render import is_new, new_result_file
from kling_emulator.render import _prompts, render_task
from kling_emulator.state import EmulatedTask, EmulatorConfig, Fault, TaskStore
from kling_emulator.stats import Stats
from kling_emulator.validation import check_video_seconds, validate

# The legacy create / query / list paths (docs/kling-api.md#endpoints).
KINDS = {
    "video-to-audio": "/v1/audio/video-to-audio",
    "text2video": "/v1/videos/text2video",
    "image2video": "/v1/videos/image2video",
    "text-to-audio": "/v1/audio/text-to-audio",
}


# Kinds whose documented query path takes Kling's task id only (docs/kling-api.md#lip-sync).
TASK_ID_ONLY_QUERIES = frozenset({"advanced-lip-sync"})

# ---------------------------------------------------------------------------- app


class KlingEmulator:
    """Routes and behaviour; ``build_app()`` returns the aiohttp application."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.store = TaskStore()
        self.stats = Stats()
        self._request_times: dict[str, deque[float]] = defaultdict(deque)
        self._background: set[asyncio.Task[None]] = set()
        self._client: ClientSession | None = None
        self.ledger = billing.Ledger()

    def build_app(self) -> web.Application:
        # Room for what the contract allows: a 10 MB image is ~14 MB of Base64 (image + image_tail).
        app = web.Application(middlewares=[self._middleware], client_max_size=self.config.max_body_bytes)
        prefix = self.config.prefix.rstrip("/")
        for kind, path in KINDS.items():
            app.router.add_post(prefix + path, self._handler(self.submit, kind))
            app.router.add_get(prefix + path, self._handler(self.list_tasks, kind))
            # The explicit pattern also matches ids with "{" or "}" (aiohttp's default does not).
            app.router.add_get(prefix + path + "/{ident:[^/]+}", self._handler(self.query, kind))
        extra_routes.register(self, app, prefix)  # speech, lip-sync, avatar, images, effects
        # No /v1 prefix (docs/kling-api.md#account-costs).
        app.router.add_get(prefix + "/account/costs", self._handler(self.account_costs, "account"))
        # New design (no /v1): creates under /{family}/{model}, GET/POST /tasks; API keys only.
        for method, path, handler, kind in new_design_routes(self):
            app.router.add_route(method, prefix + path, self._handler(handler, kind, api_key_only))
        app.router.add_get(prefix + "/results/{task_id}/{name}", self.result_file)
        app.router.add_get(prefix + "/samples/{name}", media.sample_file)
        app.router.add_get("/_emulator/stats", self.get_stats)
        app.router.add_post("/_emulator/config", self.patch_config)
        app.router.add_get("/_emulator/health", self.health)
        app.on_cleanup.append(self._cleanup)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.stats.requests += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.stats.connections.add((str(peer[0]), int(peer[1])))
        resource = request.match_info.route.resource
        self.stats.by_route[f"{request.method} {resource.canonical if resource else request.path}"] += 1
        unmatched = unmatched_route_response(request)
        return unmatched if unmatched is not None else await handler(request)

    def _handler(self, method: Any, kind: str, auth: Any = authenticate) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.stats.authorizations.add(request.headers.get("Authorization", ""))
            fault = self.config.take_fault(request.method)
            if fault is not None:
                self._count_fault(fault)
            try:
                if fault is not None and not fault.after:
                    early = await self._apply_fault_before(fault, request)
                    if early is not None:
                        return early
                owner = auth(request, self.config)  # the account
                billing.current_account.set(owner)
                self._check_rate(owner)
                response = await method(request, kind, owner)
            except KlingAPIFailure as failure:
                if failure.code in (1302, 1303) and (fault is None or fault.action != "error"):
                    self.stats.limit_refusals[failure.code] += 1
                response = error_response(failure.code, failure.message, failure.http_status)
            except web.HTTPException:
                raise
            except Exception as exc:  # an emulator bug still answers Kling's 5000 envelope, not plain text
                logging.getLogger(__name__).exception(
                    "Unexpected error in %s %s", request.method, request.path
                )
                response = error_response(5000, f"Internal error ({type(exc).__name__})")
            if fault is not None and fault.after:
                response = self._fault_response(fault)  # handled (task created), answered wrongly
            if fault is not None and fault.action == "reset_after":
                self._drop(request)
            return response

        return handle

    def _count_fault(self, fault: Fault) -> None:
        self.stats.faults += 1
        label = fault.action + (f" {fault.code}" if fault.action == "error" else "")
        if fault.action == "body":
            label += " {}" if fault.body.strip() == "{}" else " malformed"
        self.stats.faults_by_kind[label + (" after" if fault.after else "")] += 1

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.action == "error":
            return error_response(fault.code, f"Emulated error {fault.code}")
        return web.Response(text=fault.body, status=fault.http_status or 200, content_type="application/json")

    async def _apply_fault_before(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.action == "error":
            raise KlingAPIFailure(fault.code, f"Emulated error {fault.code}")
        if fault.action == "body":
            return self._fault_response(fault)
        if fault.action == "reset_before":
            self._drop(request)
            return web.Response(status=500)  # never reaches the client: the socket is gone
        if fault.action == "slow":
            await asyncio.sleep(fault.delay)
        return None

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()

    def _check_rate(self, owner: str) -> None:
        limit = self.config.max_requests_per_second
        if not limit:
            return
        now = time.monotonic()
        window = self._request_times[owner]
        window.append(now)
        while window and window[0] < now - 1.0:
            window.popleft()
        if len(window) > limit:
            raise KlingAPIFailure(1302, "Too many requests, please try again later")

    def _results_base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}{self.config.prefix.rstrip('/')}/results"

    async def submit(self, request: web.Request, kind: str, owner: str) -> web.Response:
        body = await bodies.json_object(request, self.config.max_body_bytes)
        seconds = validate(kind, body, self.store, self.config)
        external_id = str(body.get("external_task_id") or "")
        units = None if seconds is None else billing.units_for(seconds, self.config.units_per_second)
        self._admit(owner, external_id, units=units)
        if seconds is None:  # a video_url: fetch it and read its real duration, as Kling does
            try:
                seconds = await probe.video_seconds(str(body["video_url"]))
            except probe.ProbeError as exc:
                raise KlingAPIFailure(1201, str(exc)) from None
            check_video_seconds(seconds, self.config, f" (video_url: {seconds:.2f} s)")
            units = billing.units_for(seconds, self.config.units_per_second)
            # Again: other submits ran while the video was fetched.
            self._admit(owner, external_id, units=units)
        fail_message = self._fail_message(body, external_id)
        task_id = self.store.new_id()
        task = EmulatedTask(
            task_id=task_id,
            kind=kind,
            owner=owner,
            external_task_id=external_id,
            request=body,
            created=time.time(),
            duration=seconds,
            fail_message=fail_message,
            callback_url=body.get("callback_url") or None,
        )
        if kind in ("text2video", "image2video"):
            task.video_ids = [self.store.new_id()]
            self.store.videos[task.video_ids[0]] = seconds
            self._remember_video_url(task, request)
        elif kind == "video-to-audio":
            task.video_ids = [self.store.new_id()]
            task.audio_ids = [self.store.new_id()]
            task.parent_video = self._parent_video(body, seconds, request)
        else:
            task.audio_ids = [self.store.new_id()]
        self.store.add(task)
        self.stats.submits += 1
        # Occupancy only grows at a submit, so the peak is seen here.
        self.stats.peak_running = max(self.stats.peak_running, self.store.running(owner, self.config))
        if fail_message is None:  # only a task that succeeds is charged, once it has finished
            self.ledger.record(task_id, task.finishes_at(self.config), units or 0.0, owner)
        results_base = self._results_base(request)
        if task.callback_url:
            self._spawn(self._send_callbacks(task, results_base))
        return web.json_response(envelope(0, "SUCCEED", render_task(task, self.config, results_base)))

    def _remember_video_url(self, task: EmulatedTask, request: web.Request) -> None:
        """Where a generated video will be: a later video-to-audio task names it as its parent."""
        for video_id in task.video_ids:
            self.store.video_urls[video_id] = f"{self._results_base(request)}/{task.task_id}/{video_id}.mp4"

    def _parent_video(self, body: dict[str, Any], seconds: float, request: web.Request) -> dict[str, str]:
        """``task_info.parent_video`` of a video-to-audio task: the source video's id, url, length."""
        video_id = str(body.get("video_id") or "")
        if video_id:
            url = self.store.video_urls.get(video_id)
            if url is None:  # the sample video the emulator "made" before it started
                samples = self._results_base(request).removesuffix("/results") + "/samples"
                url = f"{samples}/sample-{seconds:.1f}s.mp4"
        else:
            video_id, url = self.store.new_id(), str(body["video_url"])
        return {"id": video_id, "url": url, "duration": f"{seconds:.1f}"}

    def _fail_message(self, body: dict[str, Any], external_id: str) -> str | None:
        """Why the new task will end ``failed``: the prompt's marker, or ``fault_rates.task_failure``."""
        if self.config.fail_marker in _prompts(body):
            return self.config.fail_message
        if self.config.task_fails(external_id):
            self.stats.tasks_failed_by_rate += 1
            return self.config.fault_rates.task_failure_message
        return None

    def _admit(
        self, owner: str, external_id: str, slots: int = 1, *, units: float | None = None, pack: str = "video"
    ) -> None:
        """Refuse a duplicate ``external_task_id`` (1201), a task over the parallel limit (1303), or
        one the account's packs cannot pay for next to its running tasks (1102); ``owner`` is the account.

        ``slots``: what the task holds (an image task ``n``; 0 for a synchronous call, which only
        needs units left). ``units``: what it will charge (None when not known yet). ``pack``: the
        pack type whose limit it counts against (video and image tasks do not share slots).

        Contract: docs/kling-api.md#endpoints (unique per account), docs/kling-api.md#concurrency
        (per account, shared by all API keys), docs/kling-api.md#deductions (1102).
        """
        if external_id and (owner, external_id) in self.store.by_external:
            raise KlingAPIFailure(1201, f"external_task_id {external_id} already exists")
        limit = self.config.max_concurrent_tasks
        if slots and limit is not None and self.store.running(owner, self.config, pack) + slots > limit:
            raise KlingAPIFailure(1303, "Parallel task over resource pack limit")
        billing.admit(self.ledger, self.config.packs_for, owner, units)

    async def query(self, request: web.Request, kind: str, owner: str) -> web.Response:
        # {ident}: task_id or external_task_id (docs/kling-api.md#task-query). Kling does not say what an
        # unknown id gets; the emulator answers 1203 (docs/kling-api.md#open-points).
        ident = request.match_info["ident"]
        task = self.store.find(owner, ident, kind)
        if task is None or (kind in TASK_ID_ONLY_QUERIES and task.task_id != ident):
            return error_response(1203, "Task not found")
        return web.json_response(
            envelope(0, "SUCCEED", render_task(task, self.config, self._results_base(request)))
        )

    async def list_tasks(self, request: web.Request, kind: str, owner: str) -> web.Response:
        try:
            page_num = int(request.query.get("pageNum", "1"))
            page_size = int(request.query.get("pageSize", "30"))
        except ValueError:
            raise KlingAPIFailure(1201, "pageNum and pageSize must be integers") from None
        # pageNum [1, 1000] default 1, pageSize [1, 500] default 30 (docs/kling-api.md#task-query).
        if not 1 <= page_num <= 1000 or not 1 <= page_size <= 500:
            raise KlingAPIFailure(1201, "pageNum must be 1..1000 and pageSize 1..500")
        tasks = self.store.list(owner, kind)[(page_num - 1) * page_size : page_num * page_size]
        base = self._results_base(request)
        entries = [render_task(t, self.config, base) for t in tasks]
        if self.config.list_omits_results:
            for entry in entries:
                entry.pop("task_result", None)
        return web.json_response(envelope(0, "SUCCEED", entries))

    async def account_costs(self, request: web.Request, kind: str, owner: str) -> web.Response:
        """``GET /account/costs``: the caller's account's packs and what remains."""
        packs = self.config.packs_for(owner)
        self.ledger.settle(self.config.packs_for)
        try:
            data = billing.costs_data(dict(request.query), packs)
        except ValueError as exc:
            raise KlingAPIFailure(1201, str(exc)) from None
        return web.json_response(envelope(0, "SUCCEED", data))

    async def result_file(self, request: web.Request) -> web.Response:
        task = self.store.tasks.get(request.match_info["task_id"])
        name = request.match_info["name"]
        if task is not None and is_new(task):
            return await new_result_file(task, name, self.config)
        stem, _, ext = name.rpartition(".")
        if task is not None and task.files:  # speech, lip-sync, avatar, image and effect results
            spec = outputs.file_spec(task.files, name, media.watermarked(task.request))
            if spec is None or task.status(self.config) != "succeed":
                raise web.HTTPNotFound()
            data = await asyncio.get_running_loop().run_in_executor(None, outputs.render, spec)
            return web.Response(body=data, content_type=outputs.CONTENT_TYPES[ext])
        if task is not None and media.watermarked(task.request):
            stem = stem.removesuffix(media.WATERMARK_SUFFIX)
        if (
            task is None
            or task.status(self.config) != "succeed"
            or stem not in task.video_ids + task.audio_ids
        ):
            raise web.HTTPNotFound()
        if ext not in media.CONTENT_TYPES:
            raise web.HTTPNotFound()
        fmt = media.result_format(task.kind, ext)  # a video-to-audio video carries its sound
        body = await asyncio.get_running_loop().run_in_executor(
            None, media.render, fmt, round(task.duration, 1)
        )
        return web.Response(body=body, content_type=media.CONTENT_TYPES[ext])

    async def get_stats(self, request: web.Request) -> web.Response:
        # Paid tasks against the ids they were asked for: equal when nothing was submitted twice.
        distinct = len(self.store.by_external)
        return web.json_response({**self.stats.as_dict(), "distinct_external_ids": distinct})

    async def patch_config(self, request: web.Request) -> web.Response:
        try:
            self.config.patch(await request.json())
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # AttributeError: not an object
            return web.json_response({"error": f"unknown or bad setting: {exc}"}, status=400)
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "tasks": len(self.store.tasks)})

    # ------------------------------------------------------------------ callbacks

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_callbacks(self, task: EmulatedTask, results_base: str) -> None:
        """POST the task on every status change, like Kling does (see ``_callback_request``).

        Contract: docs/kling-api.md#callbacks.
        """
        changes = [task.created + self.config.submitted_seconds, task.finishes_at(self.config)]
        sent = "submitted"  # the submit's own answer reported that one
        for change in changes:
            # Just past the change: ``created + seconds`` may round to a hair before it.
            moment = change + 0.01
            await asyncio.sleep(max(0.0, moment - time.time()))
            # Rendered as of the change: a timer that fires a hair early must not resend the old status.
            payload = render_task(task, self.config, results_base, max(moment, time.time()))
            if payload["task_status"] == sent:  # no processing phase: one change, one callback
                continue
            sent = payload["task_status"]
            try:
                if self._client is None or self._client.closed:
                    self._client = ClientSession(timeout=ClientTimeout(total=10))
                body, headers = self._callback_request(task, payload)
                async with self._client.post(str(task.callback_url), data=body, headers=headers) as response:
                    await response.read()
                self.stats.callbacks_sent += 1
            except Exception:
                self.stats.callbacks_failed += 1

    def _callback_request(self, task: EmulatedTask, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """Body and headers in the configured ``callback_format``, signed if ``webhook_secret`` is set."""
        if self.config.callback_format == "new":
            payload = callbacks.new_format(payload, task.kind)
        return callbacks.callback_request(payload, self.config.webhook_secret)

    async def _cleanup(self, app: web.Application) -> None:
        for task in list(self._background):
            task.cancel()
        if self._client is not None:
            await self._client.close()
