"""Routes of the speech, lip-sync, avatar, image and effect endpoints (KLING_API §9-§13)."""

from __future__ import annotations

import functools
from typing import Any, Protocol

from aiohttp import web

from kling_emulator import image_tasks, lipsync, speech
from kling_emulator.tasks_common import Host

# Asynchronous kinds: create (POST), list (GET) and query (GET /{task_id or external_task_id}).
ASYNC_KINDS = {
    "advanced-lip-sync": ("/v1/videos/advanced-lip-sync", lipsync.advanced_lip_sync),
    "avatar": ("/v1/videos/avatar/image2video", lipsync.avatar),
    "image-generation": ("/v1/images/generations", image_tasks.generations),
    "omni-image": ("/v1/images/omni-image", image_tasks.omni_image),
    "effects": ("/v1/videos/effects", image_tasks.effects),
}
# Synchronous calls: the answer is the result (no task to query).
SYNC_CALLS = {
    "tts": ("POST", "/v1/audio/tts", speech.tts),
    "identify-face": ("POST", "/v1/videos/identify-face", speech.identify_face),
    "presets-voices": ("GET", "/v1/general/presets-voices", speech.preset_voices),
}


class RoutesHost(Host, Protocol):
    def _handler(self, method: Any, kind: str) -> Any: ...

    async def query(self, request: web.Request, kind: str, owner: str) -> web.Response: ...

    async def list_tasks(self, request: web.Request, kind: str, owner: str) -> web.Response: ...


def register(host: RoutesHost, app: web.Application, prefix: str) -> None:
    """Add the routes, each through the emulator's handler (auth, faults, rate limit, errors)."""
    for kind, (path, create) in ASYNC_KINDS.items():
        app.router.add_post(prefix + path, host._handler(functools.partial(create, host), kind))
        app.router.add_get(prefix + path, host._handler(host.list_tasks, kind))
        app.router.add_get(prefix + path + "/{ident:[^/]+}", host._handler(host.query, kind))
    for kind, (method, path, call) in SYNC_CALLS.items():
        app.router.add_route(method, prefix + path, host._handler(functools.partial(call, host), kind))
