"""KlingPublishOperator to a real S3 API: moto's server on loopback, the Amazon provider's s3fs backend.

Needs the ``s3`` extra and ``moto[server]`` (``bash scripts/test_extras.sh s3`` installs them in
``.venv-s3``); the default suite deselects the ``s3`` marker, and moto is imported only here.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import requests

from airflow_provider_kling.operators.publish import KlingPublishOperator
from airflow_provider_kling.publishing.download import PublishError
from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.publishing import test_publish
from tests.publishing.test_publish import context, free_port, result_with

pytestmark = pytest.mark.s3
files_server = test_publish.files_server  # the misbehaving file server fixture, reused

RESULTS_ROUTE = "GET /results/{task_id}/{name}"
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "loopback-key", "aws_secret_access_key": "loopback-secret"}
WRITES = ("PUT", "POST", "DELETE")


@pytest.fixture
def s3_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 API on a free loopback port, recording every request it serves."""
    # Read when moto is first imported: keep its request log out of the working directory.
    monkeypatch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path / "moto-requests.jsonl"))
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name=REGION, **KEYS)


def aws_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, url: str) -> None:
    """What destination_conn_id holds for an S3-compatible store: keys, region, endpoint, addressing."""
    extra = {
        "region_name": REGION,
        "endpoint_url": url,
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    }
    connection = {"conn_type": "aws", "login": KEYS["aws_access_key_id"], "extra": extra}
    connection["password"] = KEYS["aws_secret_access_key"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def start_recording(url: str) -> None:
    for action in ("reset-recording", "start-recording"):
        requests.post(f"{url}/moto-api/recorder/{action}", timeout=10).raise_for_status()


def recorded_requests(url: str) -> list[dict[str, Any]]:
    """Every request the S3 API received since ``start_recording``: method, url, body (base64)."""
    response = requests.get(f"{url}/moto-api/recorder/download-recording", timeout=10)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def is_copy(entry: dict[str, Any]) -> bool:
    """A server-side CopyObject (how s3fs renames): a PUT that names its source, without a body."""
    return any(name.lower() == "x-amz-copy-source" for name in entry["headers"])


def body_bytes(entries: list[dict[str, Any]]) -> int:
    return sum(len(base64.b64decode(e["body"])) if e.get("body_encoded") else 0 for e in entries)


def objects(client: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Key -> (size, etag, last-modified) of everything in the bucket."""
    listing = client.list_objects_v2(Bucket=bucket)
    return {
        o["Key"]: {"size": o["Size"], "etag": o["ETag"], "modified": o["LastModified"]}
        for o in listing.get("Contents", [])
    }


def xcom(run_id: str, task_id: str) -> Any:
    """The return value a task of ``kling_publish_s3`` pushed in run ``run_id``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == "kling_publish_s3",
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return json.loads(value) if isinstance(value, str) else value


def task_seconds(run_id: str, task_id: str) -> float:
    """How long a task of ``kling_publish_s3`` ran, as Airflow recorded it."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
        ).one()
        assert ti.start_date is not None and ti.end_date is not None
        return (ti.end_date - ti.start_date).total_seconds()


def probe(data: bytes, tmp_path: Path, name: str) -> dict[str, float]:
    """Stream type -> seconds, as PyAV reads the downloaded object."""
    local = tmp_path / name
    local.write_bytes(data)
    with av.open(str(local)) as container:
        assert container.duration is not None
        return {s.type: float(s.duration * s.time_base) for s in container.streams if s.duration}


def test_publish_to_s3_lands_playable_objects_once(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    s3_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag = load_dag(airflow_db, "kling_publish_s3")
    publish = dag.get_task("publish")
    bucket, _, prefix = publish.destination.removeprefix("s3://").partition("/")
    client = s3_client(s3_url)
    client.create_bucket(Bucket=bucket)
    aws_connection(monkeypatch, publish.destination_conn_id, s3_url)

    start_recording(s3_url)
    started = time.perf_counter()
    run = dag.test()
    first_seconds = time.perf_counter() - started
    assert run.state == "success"
    first_requests = recorded_requests(s3_url)

    [task] = kling_conn.emulator.store.tasks.values()
    video_id, audio_id = task.video_ids[0], task.audio_ids[0]
    landed = objects(client, bucket)
    # Exactly the published files: no temporary object, no unfinished multipart upload.
    assert sorted(landed) == sorted(
        f"{prefix}{name}"
        for name in (f"{video_id}.mp4", f"{audio_id}.mp3", f"{audio_id}.wav", f"{video_id}-{audio_id}.mp4")
    )
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    downloads = kling_conn.emulator.stats.by_route[RESULTS_ROUTE]

    seconds = {}
    for key, info in landed.items():
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(data) == info["size"] > 0
        seconds[key.removeprefix(prefix)] = probe(data, tmp_path, key.rpartition("/")[2])
    video_seconds = seconds[f"{video_id}.mp4"]["video"]
    assert seconds[f"{video_id}-{audio_id}.mp4"] == {
        "video": pytest.approx(video_seconds, abs=0.05),
        "audio": pytest.approx(video_seconds, abs=0.1),  # cut at the video's end
    }
    assert seconds[f"{audio_id}.wav"].keys() == seconds[f"{audio_id}.mp3"].keys() == {"audio"}

    # The same Kling result published again (a cleared publish task): no new Kling task, no writes.
    start_recording(s3_url)
    started = time.perf_counter()
    rerun = dag.test(
        run_conf={"result": xcom(run.run_id, "video_to_audio")}, mark_success_pattern="^video_to_audio$"
    )
    rerun_seconds = time.perf_counter() - started
    assert rerun.state == "success"
    rerun_requests = recorded_requests(s3_url)
    assert [f"{e['method']} {e['url']}" for e in rerun_requests if e["method"] in WRITES] == []
    assert kling_conn.emulator.stats.by_route[RESULTS_ROUTE] == downloads, "a rerun downloads nothing"
    assert objects(client, bucket) == landed
    assert not any(f["downloaded"] for f in xcom(rerun.run_id, "publish")["files"])

    logs = capfd.readouterr()
    assert "Published 4 files" in logs.out + logs.err  # the task logs were captured here
    assert KEYS["aws_secret_access_key"] not in logs.out + logs.err

    stored = sum(info["size"] for info in landed.values())
    uploads = [e for e in first_requests if e["method"] == "PUT" and not is_copy(e)]
    copies = [e for e in first_requests if e["method"] == "PUT" and is_copy(e)]
    deletes = [e for e in first_requests if e["method"] in ("POST", "DELETE")]
    with capfd.disabled():
        print(
            f"\nS3 publish (moto on loopback; 2 shared cores, timings indicative): {len(landed)} objects, "
            f"{stored} bytes stored; first run: publish task {task_seconds(run.run_id, 'publish'):.2f} s "
            f"(whole dag.test {first_seconds:.2f} s), "
            f"{len(first_requests)} S3 requests, {len(uploads)} uploads ({body_bytes(uploads)} bytes), "
            f"{len(copies)} server-side copies and {len(deletes)} deletes (temporary name -> final name); "
            f"rerun: publish task {task_seconds(rerun.run_id, 'publish'):.2f} s "
            f"(dag.test {rerun_seconds:.2f} s), {len(rerun_requests)} S3 requests, 0 writes"
        )


# Airflow caches one filesystem per connection id in a process, and moto keeps its buckets per
# process: each test below uses its own connection id and bucket.


def test_a_download_cut_mid_file_leaves_no_object(
    s3_url: str,
    files_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_connection(monkeypatch, "kling_s3_cut", s3_url)
    client = s3_client(s3_url)
    client.create_bucket(Bucket="cut-bucket")
    op = KlingPublishOperator(
        task_id="publish",
        result=result_with(f"{files_server}/truncated.mp4"),
        destination="s3://cut-bucket/kling/",
        destination_conn_id="kling_s3_cut",
    )
    with pytest.raises(PublishError, match="could not download") as failure:
        op.execute(context())
    assert failure.value.retryable
    assert objects(client, "cut-bucket") == {}
    assert not client.list_multipart_uploads(Bucket="cut-bucket").get("Uploads")


def test_a_missing_bucket_fails_for_good_and_is_not_created(
    s3_url: str,
    files_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    aws_connection(monkeypatch, "kling_s3_missing", s3_url)
    op = KlingPublishOperator(
        task_id="publish",
        result=result_with(f"{files_server}/small.mp4"),
        destination="s3://no-such-bucket/kling/",
        destination_conn_id="kling_s3_missing",
    )
    with pytest.raises(AirflowFailException, match=r"bucket does not exist.*the bucket must exist"):
        op.execute(context())
    names = [b["Name"] for b in s3_client(s3_url).list_buckets()["Buckets"]]
    assert "no-such-bucket" not in names
