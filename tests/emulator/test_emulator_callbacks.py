"""The emulator POSTs the task object to ``callback_url`` on every status change, as Kling does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY, SAMPLE_VIDEO_ID

V2A = "/v1/audio/video-to-audio"
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/kling-callback"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def callbacks_after_finish(emulator: EmulatorServer, receiver: Receiver, body: dict[str, Any]) -> list[Any]:
    response = requests.post(emulator.url + V2A, json=body, headers=AUTH, timeout=10)
    assert response.json()["code"] == 0, response.text
    for _ in range(100):
        if len(receiver.bodies) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # a third, unwanted callback would arrive now
    return receiver.bodies


def test_one_callback_per_status_change_with_the_task_object(
    emulator: EmulatorServer, receiver: Receiver
) -> None:
    body = {"video_id": SAMPLE_VIDEO_ID, "external_task_id": "cb-1", "callback_url": receiver.url}
    processing, done = callbacks_after_finish(emulator, receiver, body)
    assert [processing["task_status"], done["task_status"]] == ["processing", "succeed"]
    assert processing["task_id"] == done["task_id"]
    assert done["task_info"]["external_task_id"] == "cb-1"
    assert done["task_info"]["parent_video"]["id"] == SAMPLE_VIDEO_ID
    assert done["task_result"]["audios"][0]["url_mp3"].endswith(".mp3")
    assert done["updated_at"] > processing["updated_at"] >= processing["created_at"]
    assert emulator.emulator.stats.callbacks_sent == 2


def test_a_failed_task_calls_back_with_its_status_message(
    emulator: EmulatorServer, receiver: Receiver
) -> None:
    body = {"video_id": SAMPLE_VIDEO_ID, "bgm_prompt": "[fail]", "callback_url": receiver.url}
    _, done = callbacks_after_finish(emulator, receiver, body)
    assert done["task_status"] == "failed"
    assert done["task_status_msg"] == emulator.config.fail_message


def test_without_a_processing_phase_the_one_change_is_called_back_once(
    emulator: EmulatorServer, receiver: Receiver
) -> None:
    emulator.config.processing_seconds = 0.0
    body = {"video_id": SAMPLE_VIDEO_ID, "callback_url": receiver.url}
    requests.post(emulator.url + V2A, json=body, headers=AUTH, timeout=10)
    for _ in range(100):
        if receiver.bodies:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    assert [b["task_status"] for b in receiver.bodies] == ["succeed"]
