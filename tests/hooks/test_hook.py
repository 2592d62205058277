"""KlingHook against the real emulator over HTTP: auth modes, prefixes, error mapping, retries."""

from __future__ import annotations

import time

import jwt
import pytest

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.hooks.auth import JwtCredentials
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Fault
from tests.conftest import conn_json, fast_config

FAST_RETRY = RetryPolicy(max_retries=3, min_wait=0.01, max_wait=0.05)
SAMPLE = VideoToAudioRequest.build(video_id="825406034503692376", sound_effect_prompt="rain")


def hook(monkeypatch: pytest.MonkeyPatch, url: str, **conn: str) -> KlingHook:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_TEST", conn_json(url, **conn))
    return KlingHook("kling_test", retry=FAST_RETRY, timeout=5)


class TestJwt:
    def test_token_has_documented_claims(self) -> None:
        now = 1_800_000_000.0
        creds = JwtCredentials("ak", "sk", clock=lambda: now)
        token = creds.token()
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
        claims = jwt.decode(
            token, "sk", algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
        )
        assert claims == {"iss": "ak", "exp": int(now) + 1800, "nbf": int(now) - 5}

    def test_token_is_cached_then_refreshed_before_expiry(self) -> None:
        clock = [1_800_000_000.0]
        creds = JwtCredentials("ak", "sk", clock=lambda: clock[0])
        first = creds.token()
        clock[0] += 60
        assert creds.token() == first  # cached
        clock[0] += 1800 - 300 - 60  # inside the refresh margin, still before exp
        second = creds.token()
        assert second != first
        assert (
            jwt.decode(
                second, "sk", algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
            )["exp"]
            == int(clock[0]) + 1800
        )

    def test_wait_longer_than_a_token_keeps_working(self, emulator: EmulatorServer, monkeypatch) -> None:
        """A token signed 'an hour ago' would be expired: the hook signs a new one by itself."""
        h = hook(monkeypatch, emulator.url)
        task = h.submit_task("video-to-audio", SAMPLE)
        clock = [time.time() - 3600]
        h.get_conn()
        h._credentials._clock = lambda: clock[0]  # type: ignore[union-attr]
        h._credentials.invalidate()  # type: ignore[union-attr]
        h._credentials.token()  # type: ignore[union-attr]  # an old token, now expired
        clock[0] = time.time()  # the clock moves on: the cached token is stale -> refreshed
        assert h.get_task("video-to-audio", task.task_id).task_id == task.task_id

    def test_expired_token_from_server_refreshes_once(self, emulator: EmulatorServer, monkeypatch) -> None:
        emulator.config.inject(Fault(action="error", code=1004, method="GET"))
        h = hook(monkeypatch, emulator.url)
        assert h.list_tasks("video-to-audio") == []
        assert emulator.emulator.stats.by_route["GET /v1/audio/video-to-audio"] == 2

    def test_persistent_401_fails_with_kling_message(self, emulator: EmulatorServer, monkeypatch) -> None:
        h = hook(monkeypatch, emulator.url, password="wrong-secret-key-wrong-secret-key")
        with pytest.raises(exc.KlingAuthError, match=r"1002.*Authorization is invalid") as info:
            h.list_tasks("video-to-audio")
        assert info.value.http_status == 401 and info.value.request_id


def test_emulator_rejects_tokens_outside_their_window(emulator: EmulatorServer, monkeypatch) -> None:
    import asyncio

    import aiohttp

    def signed(**claims: int) -> str:
        return jwt.encode({"iss": DEFAULT_ACCESS_KEY, **claims}, DEFAULT_SECRET_KEY, algorithm="HS256")

    async def status_of(token: str) -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.get(
                emulator.url + "/v1/audio/video-to-audio", headers={"Authorization": f"Bearer {token}"}
            ) as r,
        ):
            return (await r.json())["code"]

    now = int(time.time())
    assert asyncio.run(status_of(signed(exp=now + 100, nbf=now + 60))) == 1003
    assert asyncio.run(status_of(signed(exp=now - 10, nbf=now - 100))) == 1004
    assert asyncio.run(status_of("garbage")) == 1002


def test_static_key_through_proxy_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmulatorServer(fast_config(prefix="/kling")) as server:
        assert server.url.endswith("/kling")
        h = hook(monkeypatch, server.url, mode="static")
        assert h.auth_mode == "static-api-key"
        task = h.submit_task("video-to-audio", SAMPLE)
        assert h.get_task("video-to-audio", task.task_id).task_id == task.task_id
        assert server.emulator.stats.by_route["POST /kling/v1/audio/video-to-audio"] == 1
        # Without the prefix the proxy answers 404: the prefix really is used.
        h2 = hook(monkeypatch, server.root_url, mode="static")
        with pytest.raises(exc.KlingInvalidRequestError):
            h2.list_tasks("video-to-audio")


def test_query_by_external_task_id(kling_conn: EmulatorServer, monkeypatch) -> None:
    h = hook(monkeypatch, kling_conn.url)
    request = VideoToAudioRequest.build(video_id="825406034503692376", external_task_id="my-ext-1")
    task = h.submit_task("video-to-audio", request)
    assert h.get_task("video-to-audio", "my-ext-1").task_id == task.task_id
    assert h.find_task("video-to-audio", "no-such-task") is None


@pytest.mark.parametrize(
    ("code", "error_class", "http_status"),
    [
        (1000, exc.KlingAuthError, 401),
        (1102, exc.KlingAccountError, 429),
        (1103, exc.KlingAccountError, 403),
        (1201, exc.KlingInvalidRequestError, 400),
        (1301, exc.KlingContentPolicyError, 400),
        (1304, exc.KlingIPWhitelistError, 429),  # a 429, yet no rate limit: the code decides
    ],
)
def test_error_families_fail_without_retry(code, error_class, http_status, emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="error", code=code, times=10))
    h = hook(monkeypatch, emulator.url)
    with pytest.raises(error_class) as info:
        h.list_tasks("video-to-audio")
    assert (info.value.code, info.value.http_status) == (code, http_status)
    sent = emulator.emulator.stats.by_route["GET /v1/audio/video-to-audio"]
    assert sent == (2 if code == 1000 else 1)  # 401 refreshes the token once; nothing else retries


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (1302, exc.KlingRateLimitError),
        (1303, exc.KlingConcurrencyLimitError),
        (5000, exc.KlingServerError),
        (5001, exc.KlingServerError),
        (5002, exc.KlingServerError),
    ],
)
def test_transient_errors_are_retried_then_succeed(code, error_class, emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="error", code=code, times=2))
    h = hook(monkeypatch, emulator.url)
    assert h.list_tasks("video-to-audio") == []
    assert emulator.emulator.stats.by_route["GET /v1/audio/video-to-audio"] == 3
    emulator.config.inject(Fault(action="error", code=code, times=10))
    with pytest.raises(error_class):
        h.list_tasks("video-to-audio")


def test_submit_rejected_by_1201_is_not_retried(emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="error", code=1201, method="POST", times=5))
    h = hook(monkeypatch, emulator.url)
    with pytest.raises(exc.KlingInvalidRequestError, match="1201"):
        h.submit_task("video-to-audio", SAMPLE)
    assert emulator.emulator.stats.by_route["POST /v1/audio/video-to-audio"] == 1
    assert emulator.emulator.stats.submits == 0


def test_submit_retries_1303_and_creates_one_task(emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="error", code=1303, method="POST", times=2))
    h = hook(monkeypatch, emulator.url)
    task = h.submit_task("video-to-audio", SAMPLE)
    assert emulator.emulator.stats.submits == 1
    assert h.get_task("video-to-audio", task.task_id).task_id == task.task_id


def test_connection_reset_after_create_does_not_submit_twice(emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="reset_after", method="POST"))
    h = hook(monkeypatch, emulator.url)
    task = h.submit_task("video-to-audio", SAMPLE)
    assert emulator.emulator.stats.submits == 1  # found by external_task_id, not re-posted
    assert len(emulator.emulator.store.tasks) == 1
    assert task.task_id in emulator.emulator.store.tasks


def test_connection_reset_before_create_submits_once(emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="reset_before", method="POST"))
    h = hook(monkeypatch, emulator.url)
    h.submit_task("video-to-audio", SAMPLE)
    assert emulator.emulator.stats.submits == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{}", 200, "no 'code' field \\(empty body\\)"),
        ("not json", 200, "not JSON"),
        ('{"code": 0, "data": {"task_status": "submitted"}}', 200, "task_id is missing"),
    ],
)
def test_thin_or_broken_bodies_give_clear_errors(body, status, message, emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="body", body=body, http_status=status, method="GET", times=10))
    h = hook(monkeypatch, emulator.url)
    with pytest.raises(exc.KlingResponseError, match=message):
        h.get_task("video-to-audio", "123")


def test_timeout_is_a_transport_error(emulator, monkeypatch) -> None:
    emulator.config.inject(Fault(action="slow", delay=2.0, method="GET", times=10))
    monkeypatch.setenv("AIRFLOW_CONN_KLING_TEST", conn_json(emulator.url))
    h = KlingHook("kling_test", retry=RetryPolicy(max_retries=1, min_wait=0.01, max_wait=0.01), timeout=0.3)
    with pytest.raises(exc.KlingTransportError, match="no answer from Kling within"):
        h.list_tasks("video-to-audio")


def test_test_connection(emulator, monkeypatch) -> None:
    ok, message = hook(monkeypatch, emulator.url).test_connection()
    assert ok and "jwt" in message
    ok, message = hook(monkeypatch, emulator.url, mode="static", password="bad-key").test_connection()
    assert not ok and "Authorization is invalid" in message and "bad-key" not in message
    ok, message = hook(monkeypatch, "http://127.0.0.1:9").test_connection()
    assert not ok and "ClientConnectorError" in message


@pytest.mark.parametrize(("code", "status"), [(1203, 404), (1201, 400), (1200, 400)])
def test_unknown_id_answers_of_other_servers_mean_not_found(code, status, emulator, monkeypatch) -> None:
    """An independent server may say "no such task" with 404/1203, 400/1201 or 400/1200."""
    body = f'{{"code": {code}, "message": "task not found", "request_id": "r", "data": null}}'
    emulator.config.inject(Fault(action="body", body=body, http_status=status, method="GET"))
    h = hook(monkeypatch, emulator.url)
    assert h.find_task("video-to-audio", "never-submitted") is None
