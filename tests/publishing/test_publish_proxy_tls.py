"""Publishing downloads use the Kling connection's proxy and TLS settings (extra ``proxies``, ``verify``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_kling.operators.publish import KlingPublishOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from airflow_provider_kling.publishing.download import PublishError
from airflow_provider_kling.publishing.net import connection_net_settings
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, fast_config
from tests.hooks.tls_proxy import LoopbackProxy, TLSFiles, make_tls_files
from tests.operators.test_operator import SAMPLE_VIDEO, RecordingTI

RESULTS_ROUTE = "GET /results/{task_id}/{name}"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_emulator(tls: TLSFiles) -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config(), tls_cert=str(tls.cert), tls_key=str(tls.key)) as server:
        yield server


def publish(result: Any, destination: Path, **kwargs: Any) -> dict[str, Any]:
    op = KlingPublishOperator(task_id="publish", result=result, destination=str(destination), **kwargs)
    return op.execute({"outlet_events": defaultdict(SimpleNamespace)})


def test_a_chain_runs_through_the_proxy_with_the_ca_bundle(
    https_emulator: EmulatorServer, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackProxy() as proxy:
        extra = {"proxies": {"https": proxy.url}, "verify": str(tls.ca)}
        monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(https_emulator.url, extra=extra))
        made = VideoToAudioOperator(task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, deferrable=False)
        result = made.execute({"ti": RecordingTI()})
        published = publish(result, tmp_path)  # kling_default's settings: no kling_conn_id needed
    assert len(published["files"]) == 3 and all(f["downloaded"] for f in published["files"])
    assert https_emulator.emulator.stats.by_route[RESULTS_ROUTE] == 3
    assert {method for method, _ in proxy.requests} == {"CONNECT"}
    assert {port for _, port in https_emulator.emulator.stats.connections} <= proxy.upstream_ports


def test_downloads_verify_with_the_named_connection(
    https_emulator: EmulatorServer, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusting = conn_json(https_emulator.url, extra={"verify": str(tls.ca)})
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", trusting)
    monkeypatch.setenv("AIRFLOW_CONN_KLING_PLAIN", conn_json(https_emulator.url))
    made = VideoToAudioOperator(task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, deferrable=False)
    result = made.execute({"ti": RecordingTI()})
    with pytest.raises(PublishError, match="CERTIFICATE_VERIFY_FAILED"):  # default verify: system CAs
        publish(result, tmp_path / "plain", kling_conn_id="kling_plain")
    assert https_emulator.emulator.stats.by_route[RESULTS_ROUTE] == 0
    with pytest.raises(AirflowNotFoundException):  # a connection named but missing is an error
        publish(result, tmp_path / "missing", kling_conn_id="kling_missing")
    assert len(publish(result, tmp_path / "trusting")["files"]) == 3


def test_without_a_kling_connection_downloads_go_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_KLING_DEFAULT", raising=False)
    op = KlingPublishOperator(task_id="publish", result=[], destination=str(tmp_path))
    assert connection_net_settings(op.kling_conn_id) is None
