"""KlingPublishOperator against real HTTP: the emulator's result files, and a misbehaving file server."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest
from aiohttp import web
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_kling.operators.publish import KlingPublishOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from airflow_provider_kling.publishing.download import PublishError
from kling_emulator.server import EmulatorServer
from tests.operators.test_operator import SAMPLE_VIDEO, RecordingTI

RESULTS_ROUTE = "GET /results/{task_id}/{name}"


def context() -> dict[str, Any]:
    """What the operator reads from the Airflow context: the outlet events accessor."""
    return {"outlet_events": defaultdict(SimpleNamespace)}


def publish(result: Any, destination: Path, **kwargs: Any) -> dict[str, Any]:
    op = KlingPublishOperator(task_id="publish", result=result, destination=str(destination), **kwargs)
    return op.execute(context())


def every_file(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def v2a_result(kling_conn: EmulatorServer) -> dict[str, Any]:
    """A finished video-to-audio task on the emulator, as the upstream operator returns it."""
    op = VideoToAudioOperator(task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, deferrable=False)
    return op.execute({"ti": RecordingTI()})


def test_publish_copies_every_file_and_a_rerun_downloads_nothing(
    v2a_result: dict[str, Any], kling_conn: EmulatorServer, tmp_path: Path
) -> None:
    stats = kling_conn.emulator.stats
    [video], [audio] = v2a_result["videos"], v2a_result["audios"]

    first = publish(v2a_result, tmp_path)
    assert every_file(tmp_path) == sorted([f"{video['id']}.mp4", f"{audio['id']}.mp3", f"{audio['id']}.wav"])
    assert stats.by_route[RESULTS_ROUTE] == 3
    assert all(f["downloaded"] for f in first["files"])
    for entry in first["files"]:
        assert Path(entry["path"].removeprefix("file://")).stat().st_size == entry["size"] > 0
    json.dumps(first)  # goes to XCom

    again = publish(json.dumps(v2a_result), tmp_path)  # a rendered template works as well
    assert stats.by_route[RESULTS_ROUTE] == 3, "a rerun must not download again"
    assert not any(f["downloaded"] for f in again["files"])
    assert [f["path"] for f in again["files"]] == [f["path"] for f in first["files"]]


def test_a_copy_of_another_size_is_replaced(v2a_result: dict[str, Any], tmp_path: Path) -> None:
    [audio] = v2a_result["audios"]
    stale = tmp_path / f"{audio['id']}.mp3"
    stale.write_bytes(b"half a file")
    out = publish(v2a_result, tmp_path, audio_formats="mp3", include_videos=False)
    [entry] = out["files"]
    assert entry["downloaded"] and stale.stat().st_size == entry["size"] > 100
    with av.open(str(stale)) as container:
        assert container.streams.audio


def test_mux_writes_video_with_the_generated_audio(v2a_result: dict[str, Any], tmp_path: Path) -> None:
    out = publish(v2a_result, tmp_path, mux=True, audio_formats=["wav"])
    [muxed] = [f for f in out["files"] if f["kind"] == "muxed"]
    with av.open(muxed["path"].removeprefix("file://")) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
        assert container.duration / 1e6 == pytest.approx(5.1, abs=0.1)  # the sample video's length
    again = publish(v2a_result, tmp_path, mux=True, audio_formats=["wav"])
    assert not any(f["downloaded"] for f in again["files"])


def test_asset_event_carries_the_published_paths(v2a_result: dict[str, Any], tmp_path: Path) -> None:
    op = KlingPublishOperator(task_id="publish", result=v2a_result, destination=str(tmp_path))
    [asset] = op.outlets
    assert asset.uri == f"file://{tmp_path}"
    ctx = context()
    out = op.execute(ctx)
    assert ctx["outlet_events"][asset].extra == out


def test_templated_destination_declares_the_shared_asset() -> None:
    op = KlingPublishOperator(task_id="publish", result={}, destination="{{ params.destination }}")
    assert [a.name for a in op.outlets] == ["kling_published"]


# ---------------------------------------------------------------------- unsafe input


def result_with(url: str, kling_id: str = "900001") -> dict[str, Any]:
    return {"task_id": "1", "videos": [{"id": kling_id, "url": url, "duration": "5.0"}], "audios": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    # The port stays bound (never listening) for the whole test, so it refuses connections: a
    # port merely probed free could meanwhile be taken by another test process's server (xdist).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/results/1/900001.mp4?signature=s3cr3t"
        with pytest.raises(
            PublishError, match=r"could not download http://127\.0\.0\.1:\d+/results/1/900001\.mp4"
        ) as e:
            publish(result_with(url), tmp_path, connect_timeout=2)
    assert e.value.retryable
    assert "s3cr3t" not in str(e.value)  # signed CDN links stay out of logs
    assert every_file(tmp_path) == []


def test_an_unfinished_task_is_not_published_as_empty(tmp_path: Path) -> None:
    submitted = {"task_id": "42", "status": "submitted", "videos": [], "audios": []}
    with pytest.raises(AirflowFailException, match="Kling task 42 is 'submitted', not 'succeed'"):
        publish(submitted, tmp_path)


def test_oversized_file_fails_for_good_and_leaves_nothing(
    v2a_result: dict[str, Any], kling_conn: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException, match="larger than the 1000 byte limit"):
        publish(v2a_result, tmp_path, max_bytes=1000)
    assert every_file(tmp_path) == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.mp4?sig=s3cr3t", "/results/1/a.mp4?sig=s3cr3t", ""]
)
def test_only_http_urls_are_fetched(url: str, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match="not an http") as failure:
        publish(result_with(url), tmp_path)
    assert "s3cr3t" not in str(failure.value)  # a refused URL's signature stays out of the log too
    assert every_file(tmp_path) == []


@pytest.mark.parametrize(
    ("kling_id", "name"), [("../../escape", "escape.mp4"), ("/etc/cron.d/x", "etc_cron_d_x.mp4")]
)
def test_kling_ids_cannot_leave_the_destination(
    kling_id: str, name: str, tmp_path: Path, files_server: str
) -> None:
    destination = tmp_path / "out"
    publish(result_with(f"{files_server}/small.mp4", kling_id), destination)
    assert every_file(tmp_path) == [f"out/{name}"]


# ---------------------------------------------------------------------- a misbehaving server


@pytest.fixture
def files_server() -> Iterator[str]:
    """An HTTP server that sends a small file, an endless unannounced one, and a truncated one."""

    async def small(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2048, content_type="video/mp4")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to check up front
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"y" * 65536)
        await response.write_eof()
        return response

    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000000"})
        await response.prepare(request)
        await response.write(b"z" * 100_000)
        assert request.transport is not None
        request.transport.close()  # the connection dies mid-file
        return response

    async def to_file(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    app = web.Application()
    app.router.add_get("/to-file.mp4", to_file)
    app.router.add_get("/small.mp4", small)
    app.router.add_get("/endless.mp4", endless)
    app.router.add_get("/truncated.mp4", truncated)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_stream_over_the_limit_is_cut_and_removed(files_server: str, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match="larger than the 1000000 byte limit"):
        publish(result_with(f"{files_server}/endless.mp4"), tmp_path, max_bytes=1_000_000)
    assert every_file(tmp_path) == []


def test_a_redirect_off_http_fails_for_good_and_leaves_nothing(files_server: str, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"could not download .*InvalidSchema"):
        publish(result_with(f"{files_server}/to-file.mp4"), tmp_path)
    assert every_file(tmp_path) == []


def test_connection_lost_mid_file_leaves_nothing(files_server: str, tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="could not download") as failure:
        publish(result_with(f"{files_server}/truncated.mp4"), tmp_path)
    assert failure.value.retryable  # an Airflow retry may well succeed
    assert every_file(tmp_path) == []


def test_operator_module_imports_no_media_or_http_libraries() -> None:
    """DAG files import the operator at every parse: the heavy libraries load only in execute()."""
    code = (
        "import sys, airflow_provider_kling.operators.publish; "
        "print(sorted(m for m in ('aiohttp', 'av', 'numpy', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_source_that_is_not_a_video_fails_the_mux_cleanly(
    v2a_result: dict[str, Any], files_server: str, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException, match="could not mux"):
        publish(v2a_result, tmp_path, mux=True, source_video=f"{files_server}/small.mp4")
    assert not [name for name in every_file(tmp_path) if "-" in name], "no muxed file"
    assert not [name for name in every_file(tmp_path) if name.startswith(".")], "no temporary file"
