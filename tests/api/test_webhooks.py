"""Kling's Webhook Signature: ``verify_kling_webhook`` and the emulator's signed callbacks.

End to end over loopback: the emulator POSTs signed callbacks to a small aiohttp receiver that
checks them with ``verify_kling_webhook``, as a user's endpoint would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import web

from airflow_provider_kling.api.tasks import parse_task
from airflow_provider_kling.api.webhooks import verify_kling_webhook
from airflow_provider_kling.exceptions import KlingError, KlingWebhookError
from kling_emulator import callbacks
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY, SAMPLE_VIDEO_ID, EmulatorConfig
from tests.conftest import fast_config, load_fixture

VECTOR = load_fixture("webhook-signature-vector.json")
SECRET = VECTOR["secret"]
AT = int(VECTOR["headers"]["webhook-timestamp"])
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
V2A = "/v1/audio/video-to-audio"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()


def vector_headers(**changes: str) -> dict[str, str]:
    return {**VECTOR["headers"], **changes}


# ---------------------------------------------------------------------------- verify_kling_webhook


def test_the_official_vector_verifies_and_returns_the_payload() -> None:
    payload = verify_kling_webhook(vector_headers(), VECTOR["raw_body"].encode(), SECRET, now=AT + 10)
    assert payload == json.loads(VECTOR["raw_body"])
    assert issubclass(KlingWebhookError, KlingError)


def test_header_names_are_case_insensitive_and_str_bodies_work() -> None:
    headers = {k.upper(): v for k, v in VECTOR["headers"].items()}
    assert verify_kling_webhook(headers, VECTOR["raw_body"], SECRET, now=AT)["status"] == "succeeded"


def test_the_emulator_signer_reproduces_the_official_vector() -> None:
    """The emulator signs on its own code: it must land on Kling's published signature."""
    signed = callbacks.signature(SECRET, VECTOR["headers"]["webhook-id"], AT, VECTOR["raw_body"].encode())
    assert signed == VECTOR["headers"]["webhook-signature"]


@pytest.mark.parametrize(
    "body",
    [
        VECTOR["raw_body"].replace("succeeded", "failed"),
        VECTOR["raw_body"] + " ",
        json.dumps(json.loads(VECTOR["raw_body"])),  # re-serialised: same JSON, other bytes
    ],
    ids=["tampered", "trailing-space", "re-serialised"],
)
def test_a_changed_body_is_refused(body: str) -> None:
    with pytest.raises(KlingWebhookError, match="no webhook-signature matches"):
        verify_kling_webhook(vector_headers(), body.encode(), SECRET, now=AT)


@pytest.mark.parametrize(
    "headers",
    [
        vector_headers(**{"webhook-id": "9876543211"}),
        vector_headers(**{"webhook-timestamp": str(AT + 1)}),
    ],
    ids=["other-id", "other-timestamp"],
)
def test_the_id_and_timestamp_are_signed_too(headers: dict[str, str]) -> None:
    with pytest.raises(KlingWebhookError, match="no webhook-signature matches"):
        verify_kling_webhook(headers, VECTOR["raw_body"], SECRET, now=AT)


def test_a_wrong_secret_is_refused_and_never_shown() -> None:
    with pytest.raises(KlingWebhookError) as info:
        verify_kling_webhook(vector_headers(), VECTOR["raw_body"], OTHER_SECRET, now=AT)
    assert OTHER_SECRET[6:] not in str(info.value) and SECRET[6:] not in str(info.value)


@pytest.mark.parametrize(
    ("now", "word"),
    [(AT + 301, "old"), (AT - 301, "in the future"), (AT + 3600 * 24, "old")],
)
def test_a_stale_or_future_timestamp_is_refused(now: int, word: str) -> None:
    with pytest.raises(KlingWebhookError, match=word):
        verify_kling_webhook(vector_headers(), VECTOR["raw_body"], SECRET, now=now)


def test_the_tolerance_is_five_minutes_by_default_and_tunable() -> None:
    for now in (AT + 300, AT - 300):
        verify_kling_webhook(vector_headers(), VECTOR["raw_body"], SECRET, now=now)
    verify_kling_webhook(vector_headers(), VECTOR["raw_body"], SECRET, now=AT + 900, tolerance=1000)
    with pytest.raises(KlingWebhookError, match="old"):
        verify_kling_webhook(vector_headers(), VECTOR["raw_body"], SECRET, now=AT + 61, tolerance=60)


def test_during_a_rotation_any_listed_signature_passes() -> None:
    good = VECTOR["headers"]["webhook-signature"]
    wrong = callbacks.signature(
        OTHER_SECRET, VECTOR["headers"]["webhook-id"], AT, VECTOR["raw_body"].encode()
    )
    for listed in (f"{wrong} {good}", f"{good} {wrong}", f"v2,abc {good}", f"v1,not-base64!! {good}"):
        headers = vector_headers(**{"webhook-signature": listed})
        assert verify_kling_webhook(headers, VECTOR["raw_body"], SECRET, now=AT)["id"] == "1234567890"
    # The same header checked with the other secret also passes: both secrets are valid meanwhile.
    headers = vector_headers(**{"webhook-signature": f"{good} {wrong}"})
    assert verify_kling_webhook(headers, VECTOR["raw_body"], OTHER_SECRET, now=AT)["id"] == "1234567890"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    headers = {k: v for k, v in VECTOR["headers"].items() if k != missing}
    with pytest.raises(KlingWebhookError, match=missing):
        verify_kling_webhook(headers, VECTOR["raw_body"], SECRET, now=AT)


@pytest.mark.parametrize(
    ("headers", "secret", "match"),
    [
        (vector_headers(**{"webhook-timestamp": "yesterday"}), SECRET, "Unix time"),
        (vector_headers(**{"webhook-signature": "garbage"}), SECRET, "no webhook-signature matches"),
        (vector_headers(), SECRET[6:], "whsec_"),
        (vector_headers(), "whsec_%%%", "not Base64"),
        (vector_headers(), "whsec_", "empty"),
    ],
)
def test_malformed_input_is_a_webhook_error_not_a_crash(
    headers: dict[str, str], secret: str, match: str
) -> None:
    with pytest.raises(KlingWebhookError, match=match):
        verify_kling_webhook(headers, VECTOR["raw_body"], secret, now=AT)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    body = b"[1, 2]"
    headers = vector_headers(**{"webhook-signature": callbacks.signature(SECRET, "9876543210", AT, body)})
    with pytest.raises(KlingWebhookError, match="not a JSON object"):
        verify_kling_webhook(headers, body, SECRET, now=AT)


# ---------------------------------------------------------------------------- end to end


class Receiver:
    """An aiohttp endpoint on loopback that verifies each callback, as a user's receiver would."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.headers.append(dict(request.headers))
        if self.secret is None:
            self.accepted.append(json.loads(raw))
            return web.Response(status=200)
        try:
            self.accepted.append(verify_kling_webhook(request.headers, raw, self.secret))
        except KlingWebhookError as error:
            self.refused.append(str(error))
            return web.Response(status=401)
        return web.Response(status=200)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/kling-callback", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kling-callback"

    def __enter__(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_for(self, count: int) -> None:
        for _ in range(200):
            if len(self.accepted) + len(self.refused) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{count} callbacks expected, got {len(self.accepted) + len(self.refused)}")


@pytest.fixture
def signing_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config(webhook_secret=SECRET)) as server:
        yield server


def submit_with_callback(emulator: EmulatorServer, url: str, **extra: Any) -> dict[str, Any]:
    body = {"video_id": SAMPLE_VIDEO_ID, "external_task_id": "signed-1", "callback_url": url, **extra}
    response = requests.post(emulator.url + V2A, json=body, headers=AUTH, timeout=10)
    assert response.json()["code"] == 0, response.text
    return response.json()["data"]


def test_signed_legacy_callbacks_verify_at_a_real_receiver(signing_emulator: EmulatorServer) -> None:
    with Receiver(SECRET) as receiver:
        task = submit_with_callback(signing_emulator, receiver.url)
        receiver.wait_for(2)
    assert receiver.refused == []
    processing, done = receiver.accepted
    assert (processing["task_status"], done["task_status"]) == ("processing", "succeed")
    assert parse_task(done).task_id == task["task_id"]  # a bare legacy task object, no envelope
    assert done["task_info"]["parent_video"]["id"] == SAMPLE_VIDEO_ID
    # final_balance_deduction comes with the deductions work (issue 14), not this one.
    legacy_keys = set(load_fixture("callback-legacy.json")) - {"final_balance_deduction"}
    assert legacy_keys <= set(done)
    ids = [h["webhook-id"] for h in receiver.headers]
    assert len(set(ids)) == 2, "webhook-id must be unique per request"


def test_a_receiver_with_another_secret_refuses_every_callback(signing_emulator: EmulatorServer) -> None:
    with Receiver(OTHER_SECRET) as receiver:
        submit_with_callback(signing_emulator, receiver.url)
        receiver.wait_for(2)
    assert receiver.accepted == [] and len(receiver.refused) == 2


def test_without_a_secret_callbacks_carry_no_signature_headers(emulator: EmulatorServer) -> None:
    with Receiver(None) as receiver:
        submit_with_callback(emulator, receiver.url)
        receiver.wait_for(2)
    for headers in receiver.headers:
        assert not {h.lower() for h in headers} & {"webhook-id", "webhook-timestamp", "webhook-signature"}
    with Receiver(SECRET) as strict:  # and a receiver that insists on them refuses the callback
        submit_with_callback(emulator, strict.url, external_task_id="unsigned-2")
        strict.wait_for(2)
    assert strict.accepted == [] and "not signed" in strict.refused[0]


def test_the_new_format_callback_is_selectable_and_signed(signing_emulator: EmulatorServer) -> None:
    signing_emulator.config.callback_format = "new"
    with Receiver(SECRET) as receiver:
        task = submit_with_callback(signing_emulator, receiver.url)
        receiver.wait_for(2)
    processing, done = receiver.accepted
    expected_keys = set(load_fixture("callback-new.json"))
    assert set(done) == expected_keys and set(processing) == expected_keys
    assert (processing["status"], done["status"]) == ("processing", "succeeded")
    assert done["id"] == task["task_id"] and done["external_id"] == "signed-1"
    assert done["create_time"] == task["created_at"] and done["update_time"] > processing["update_time"]
    video, audio = done["outputs"]
    assert video["type"] == "video" and video["url"].endswith(".mp4")
    assert audio["type"] == "audio" and audio["mp3_url"].endswith(".mp3") and audio["mp3_duration"] == "5.1"
    assert {"url_mp3", "url_wav"}.isdisjoint(audio)
    assert done["billing"][0]["charge_type"] == "unit" and done["billing"][0]["package_type"] == "audio"
    assert processing["outputs"] == [] and processing["billing"] == []


def test_the_new_format_matches_the_fixture_for_a_watermarked_video() -> None:
    fixture = load_fixture("callback-new.json")
    legacy = {
        "task_id": fixture["id"],
        "task_status": "succeed",
        "task_status_msg": "",
        "created_at": fixture["create_time"],
        "updated_at": fixture["update_time"],
        "task_info": {"external_task_id": fixture["external_id"]},
        "task_result": {"videos": [{k: v for k, v in fixture["outputs"][0].items() if k != "type"}]},
        "final_unit_deduction": "5",
    }
    assert callbacks.new_format(legacy, "text2video") == fixture


def test_a_bad_secret_or_format_is_refused_by_config_and_cli() -> None:
    for bad in ({"webhook_secret": "not-whsec"}, {"webhook_secret": "whsec_%%%"}, {"callback_format": "v3"}):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]
    cli = [sys.executable, "-m", "kling_emulator.cli", "--port", "0"]
    result = subprocess.run(
        [*cli, "--webhook-secret", "plain-secret-123"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "whsec_" in result.stderr and "plain-secret-123" not in result.stderr


def test_the_cli_flags_reach_the_config() -> None:
    from kling_emulator.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        ["--webhook-secret", SECRET, "--callback-format", "new", "--extra-model", "kling-v4"]
    )
    config = config_from_args(args)
    assert (config.webhook_secret, config.callback_format, config.extra_models) == (
        SECRET,
        "new",
        ["kling-v4"],
    )
    assert SECRET not in repr(config)


def test_the_cli_signs_with_the_secret_from_its_environment(tmp_path: Any) -> None:
    """The real ``kling-emulator`` process: secret from $KLING_EMULATOR_WEBHOOK_SECRET, never printed."""
    import os

    port_file = tmp_path / "port"
    env = {**os.environ, "KLING_EMULATOR_WEBHOOK_SECRET": SECRET}
    cli = [sys.executable, "-m", "kling_emulator.cli", "--port", "0"]
    timing = ["--submitted-seconds", "0.1", "--processing-seconds", "0.2"]
    process = subprocess.Popen(
        [*cli, *timing, "--port-file", str(port_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            if port_file.exists() and port_file.read_text():
                break
            assert process.poll() is None, "the emulator exited"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        with Receiver(SECRET) as receiver:
            body = {"video_id": SAMPLE_VIDEO_ID, "callback_url": receiver.url}
            assert requests.post(base + V2A, json=body, headers=AUTH, timeout=10).json()["code"] == 0
            receiver.wait_for(2)
        assert receiver.refused == [] and len(receiver.accepted) == 2
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate(timeout=20)
    assert "signed (Webhook Signature)" in output and SECRET[6:] not in output
