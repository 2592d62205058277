"""Per-connection proxy and TLS (extra ``proxies``, ``verify``, ``cert``): a loopback proxy and own CA."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingTLSError,
    KlingTransportError,
    KlingValidationError,
)
from airflow_provider_kling.hooks.connection import CONN_FIELDS, NetSettings, read_net
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import close_shared_session, shared_session
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, fast_config, first_event
from tests.hooks.tls_proxy import LoopbackProxy, TLSFiles, make_tls_files

SAMPLE = {"video_id": "825406034503692376"}
NO_RETRIES = {"max_retries": 0}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_emulator(tls: TLSFiles) -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config(), tls_cert=str(tls.cert), tls_key=str(tls.key)) as server:
        yield server


@pytest.fixture
def emulator_http() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config()) as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[LoopbackProxy]:
    with LoopbackProxy() as running:
        yield running


def use(monkeypatch: pytest.MonkeyPatch, url: str, conn_id: str = "kling_net", **extra: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(url, extra={**NO_RETRIES, **extra}))
    return conn_id


def peer_ports(server: EmulatorServer) -> set[int]:
    return {port for _, port in server.emulator.stats.connections}


# ---------------------------------------------------------------------------- proxy


def test_every_call_goes_through_the_proxy(
    emulator_http: EmulatorServer, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = use(monkeypatch, emulator_http.url, proxies={"http": proxy.url})
    hook = KlingHook(conn_id)
    task = hook.submit_task("video-to-audio", SAMPLE)
    assert hook.get_task("video-to-audio", task.task_id).task_id == task.task_id
    event = first_event(
        KlingTaskTrigger(kling_task_id=task.task_id, kling_conn_id=conn_id, poll_interval=0.05)
    )
    assert event["status"] == "success"
    methods = [method for method, _ in proxy.requests]
    assert methods.count("POST") == 1 and methods.count("GET") >= 2  # submit, query, the trigger's polls
    assert all(target.startswith(emulator_http.url) for _, target in proxy.requests)
    assert peer_ports(emulator_http) <= proxy.upstream_ports  # nothing reached Kling around the proxy


def test_without_proxies_calls_go_direct(
    emulator_http: EmulatorServer, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    KlingHook(use(monkeypatch, emulator_http.url)).submit_task("video-to-audio", SAMPLE)
    assert proxy.requests == [] and emulator_http.emulator.stats.submits == 1


def test_a_proxy_for_another_scheme_is_not_used(
    emulator_http: EmulatorServer, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    KlingHook(use(monkeypatch, emulator_http.url, proxies={"https": proxy.url})).submit_task(
        "video-to-audio", SAMPLE
    )
    assert proxy.requests == []  # picked as requests picks it: the base URL is http://


def test_proxy_credentials_are_sent_and_masked(
    emulator_http: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    password = "pr0xy-SECRET-5be1-do-not-leak"
    with LoopbackProxy(credentials=f"alice:{password}") as guarded:
        conn_id = use(monkeypatch, emulator_http.url, proxies={"http": guarded.url_with(f"alice:{password}")})
        hook = KlingHook(conn_id)
        hook.submit_task("video-to-audio", SAMPLE)
        assert guarded.refused == 0 and len(guarded.requests) == 1
        assert redact(f"via {password}") == "via ***"  # registered with Airflow's masker

        wrong = use(
            monkeypatch, emulator_http.url, "kling_wrong", proxies={"http": guarded.url_with("alice:nope")}
        )
        with pytest.raises((KlingAPIError, KlingTransportError)) as failed:  # the proxy's 407
            KlingHook(wrong).submit_task("video-to-audio", SAMPLE)
        assert guarded.refused == 1 and "407" in str(failed.value)
        assert "nope" not in str(failed.value)
    with pytest.raises(KlingTransportError) as down:  # the proxy is gone: connection refused
        KlingHook(conn_id).get_task("video-to-audio", "1")
    assert password not in str(down.value) and emulator_http.emulator.stats.submits == 1


# ---------------------------------------------------------------------------- TLS


def test_verify_with_the_ca_bundle_works(
    https_emulator: EmulatorServer, tls: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert https_emulator.url.startswith("https://")
    hook = KlingHook(use(monkeypatch, https_emulator.url, verify=str(tls.ca)))
    task = hook.submit_task("video-to-audio", SAMPLE)
    assert hook.get_task("video-to-audio", task.task_id).task_status in ("submitted", "processing", "succeed")


def test_default_verify_refuses_the_self_signed_certificate_clearly(
    https_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = use(monkeypatch, https_emulator.url, max_retries=3, retry_min_wait=5)
    with pytest.raises(KlingTLSError) as refused:  # at once: the 3 retries of 5 s would not help
        KlingHook(conn_id).submit_task("video-to-audio", SAMPLE)
    message = str(refused.value)
    assert "TLS certificate of 127.0.0.1" in message and "not trusted" in message
    assert "'verify'" in message and "CA bundle" in message
    assert not refused.value.transient and https_emulator.emulator.stats.submits == 0


@pytest.mark.parametrize("verify", [False, "false", "False"])
def test_verify_false_works(
    https_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, verify: Any
) -> None:
    KlingHook(use(monkeypatch, https_emulator.url, verify=verify)).submit_task("video-to-audio", SAMPLE)
    assert https_emulator.emulator.stats.submits == 1


def test_a_client_certificate_is_presented_for_mutual_tls(
    tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = EmulatorServer(
        fast_config(), tls_cert=str(tls.cert), tls_key=str(tls.key), tls_client_ca=str(tls.ca)
    )
    both = tmp_path / "client-with-key.pem"
    both.write_bytes(tls.client_cert.read_bytes() + tls.client_key.read_bytes())
    with server:
        without = use(monkeypatch, server.url, "kling_no_cert", verify=str(tls.ca))
        with pytest.raises(KlingTransportError):  # the server refuses the handshake
            KlingHook(without).submit_task("video-to-audio", SAMPLE)
        pair = [str(tls.client_cert), str(tls.client_key)]
        for cert in (pair, json.dumps(pair), str(both)):  # [cert, key], as JSON text, one PEM file
            conn_id = use(monkeypatch, server.url, verify=str(tls.ca), cert=cert)
            KlingHook(conn_id).submit_task("video-to-audio", SAMPLE)
        assert server.emulator.stats.submits == 3


def test_https_through_the_proxy_with_the_ca_bundle(
    https_emulator: EmulatorServer, tls: TLSFiles, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = use(monkeypatch, https_emulator.url, proxies={"https": proxy.url}, verify=str(tls.ca))
    KlingHook(conn_id).submit_task("video-to-audio", SAMPLE)
    assert proxy.requests == [("CONNECT", f"127.0.0.1:{https_emulator.port}")]  # a tunnel, end-to-end TLS
    assert peer_ports(https_emulator) <= proxy.upstream_ports


def test_the_http_providers_aliases_are_read(tls: TLSFiles) -> None:
    """``proxy`` and ``verify_ssl`` work as on an ``http`` connection: the http provider reads them."""
    net = read_net({"proxy": "http://p:3128", "verify_ssl": str(tls.ca)}, "c")
    assert net.proxy_for("https://api-singapore.klingai.com") == "http://p:3128"
    assert net.verify == str(tls.ca)
    assert read_net({"proxies": json.dumps({"https": "http://p:1"})}, "c").proxies == (
        ("https", "http://p:1"),
    )
    assert read_net({"proxies": None, "verify": "", "cert": None}, "c") == NetSettings()  # cleared fields


@pytest.mark.parametrize(
    "extra,rule",
    [
        ({"proxies": ["http://p:3128"]}, "proxies: must be a dict"),
        ({"proxies": {"https": "socks5://p:1080"}}, "proxies['https']: must be an http:// or https://"),
        ({"proxies": "{not json"}, "proxies: not valid JSON"),
        ({"verify": "/no/such/ca.pem"}, "verify: must be true, false or the path of a CA bundle"),
        ({"verify": 3}, "verify: must be true, false or the path of a CA bundle"),
        (
            {"cert": ["/a", "/b", "/c"]},
            "cert: must be the path of a client certificate, or [certificate, key]",
        ),
        ({"cert": "/no/such/client.pem"}, "cert: must be the path"),
        ({"trust_env": "maybe"}, "trust_env: must be true or false"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(extra: dict[str, Any], rule: str) -> None:
    with pytest.raises(KlingValidationError) as refused:
        read_net(extra, "kling_corp")
    assert f"Connection 'kling_corp': extra field {rule}" in str(refused.value)


def test_a_file_that_is_no_ca_bundle_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(KlingValidationError, match="verify/cert: cannot be loaded"):
        read_net({"verify": str(junk)}, "c")


def test_a_proxy_password_stays_out_of_validation_errors() -> None:
    with pytest.raises(KlingValidationError) as refused:
        read_net({"proxies": {"https": "ftp://bob:hunter2@p:21"}}, "c")
    assert "hunter2" not in str(refused.value) and "bob:***@p:21" in str(refused.value)


def test_connections_with_other_settings_do_not_share_a_pool(tls: TLSFiles) -> None:
    async def on_a_loop() -> None:
        plain, trusting = NetSettings(), NetSettings(verify=str(tls.ca))
        proxied = NetSettings(proxies=(("https", "http://p:3128"),))
        base = "https://api-singapore.klingai.com"
        sessions = [shared_session(net, base) for net in (plain, trusting, proxied)]
        assert len({id(s) for s in sessions}) == 3
        assert shared_session(NetSettings(verify=str(tls.ca)), base) is sessions[1]  # equal settings share
        assert shared_session(proxied, "http://emulator:8765") is not sessions[2]  # no proxy for http://
        await close_shared_session()
        assert all(s.closed for s in sessions)

    asyncio.run(on_a_loop())


def test_the_form_shows_the_proxy_and_tls_fields() -> None:
    for name in ("proxies", "verify", "cert"):
        assert CONN_FIELDS[name]["label"] and "null" in CONN_FIELDS[name]["schema"]["type"]
    assert '{"https": "http://proxy:3128"}' in CONN_FIELDS["proxies"]["description"]


def test_the_emulator_cli_serves_https(tls: TLSFiles, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import requests

    port_file = tmp_path / "port"
    flags = [
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--tls-cert",
        str(tls.cert),
        "--tls-key",
        str(tls.key),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "kling_emulator.cli", *flags],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        port = int(port_file.read_text())
        health = requests.get(f"https://127.0.0.1:{port}/_emulator/health", verify=str(tls.ca), timeout=10)
        assert health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        banner = process.communicate(timeout=30)[0]
    assert f"listening on https://127.0.0.1:{port}" in banner
