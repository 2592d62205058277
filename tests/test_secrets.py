"""Secrets never leak: full DAG runs with distinctive keys, then grep everything Airflow kept.

Every run (JWT and static key, blocking and deferrable, a 401 and exhausted 5xx) is made with
``dag.test()`` against the emulator. Afterwards we search for the secret key, the API key, a
wrong secret key and every JWT the emulator actually received, in: stdout/stderr at the file
descriptor level, log records, every file under AIRFLOW_HOME (task logs if any, and the SQLite
metadata DB with its WAL: XCom, rendered template fields, serialized trigger kwargs, task
instance notes...), the XCom / rendered-field / trigger rows read back explicitly, exception
messages, and ``repr()`` of hook, credentials and operator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kling.exceptions import KlingAuthError, KlingServerError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import conn_json, fast_config
from tests.dags.test_example_dags import load_dag

ACCESS_KEY = "ak-quiet-heron-41"
SECRET_KEY = "sk-SECRET-7f3a9c2e51d84b6f-do-not-leak"
API_KEY = "apikey-SECRET-c0ffee5eed1234-do-not-leak"
WRONG_SECRET = "sk-WRONG-0b5e1a7d6c3f92e8-do-not-leak"
STATIC_SECRETS = (SECRET_KEY, API_KEY, WRONG_SECRET)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    config = fast_config(access_keys={ACCESS_KEY: SECRET_KEY}, api_keys={API_KEY})
    with EmulatorServer(config) as emulator:
        yield emulator


# Failing runs must fail fast: 2 quick retries instead of minutes of backoff.
FAST_RETRIES = {"max_retries": 2, "retry_min_wait": 0.01, "retry_max_wait": 0.02}


def use_connection(
    monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, mode: str, secret: str = ""
) -> None:
    if mode == "jwt":
        value = conn_json(server.url, login=ACCESS_KEY, password=secret or SECRET_KEY, extra=FAST_RETRIES)
    else:
        value = conn_json(server.url, mode="static", password=secret or API_KEY, extra=FAST_RETRIES)
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", value)


def tokens_sent(server: EmulatorServer) -> list[str]:
    """Every credential that went over the wire: the JWTs the hook signed (or the static key)."""
    values = [a.removeprefix("Bearer ").strip() for a in server.emulator.stats.authorizations]
    return [v for v in values if v]


def database_rows() -> str:
    """XCom values, rendered template fields and serialized trigger kwargs, as Airflow stored them."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    rows = []
    with create_session() as session:
        for table in ("xcom", "rendered_task_instance_fields", "trigger", "task_instance", "dag_run"):
            rows += [f"{table}: {row}" for row in session.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(rows)


def home_files() -> bytes:
    """Every file Airflow wrote under AIRFLOW_HOME (logs, the metadata DB and its WAL), not the DAGs."""
    home = Path(os.environ["AIRFLOW_HOME"])
    return b"\n".join(
        p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and "dags" not in p.relative_to(home).parts
    )


def assert_no_secret(where: str, corpus: str | bytes, secrets: list[str]) -> None:
    for secret in secrets:
        needle: Any = secret.encode() if isinstance(corpus, bytes) else secret
        assert needle not in corpus, f"a secret ({secret[:6]}...) leaked into {where}"


def run_dag(dag_id: str, airflow_db: Path, run_conf: dict[str, Any] | None = None) -> Any:
    return load_dag(airflow_db, dag_id).test(run_conf=run_conf or {})


def collect(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> dict[str, str | bytes]:
    out, err = capfd.readouterr()
    return {
        "stdout/stderr": out + err,
        "log records": caplog.text,
        "AIRFLOW_HOME files (task logs, metadata DB)": home_files(),
        "XCom / rendered fields / trigger rows": database_rows(),
    }


SCENARIOS = [
    # (dag, connection mode, wrong secret?, inject 5xx?, expected run state, text the output must show)
    ("kling_secrets_blocking", "jwt", False, False, "success", "KLING AUDIO"),
    ("kling_secrets_deferrable", "jwt", False, False, "success", "KLING AUDIO"),
    ("kling_secrets_deferrable", "static", False, False, "success", "KLING AUDIO"),
    ("kling_secrets_blocking", "jwt", True, False, "failed", "Authorization is invalid"),
    ("kling_secrets_deferrable", "static", True, False, "failed", "Authorization is invalid"),
    ("kling_secrets_blocking", "jwt", False, True, "failed", "Emulated error 5000"),
]


@pytest.mark.parametrize(
    ("dag_id", "mode", "wrong_secret", "server_errors", "state", "shown"),
    SCENARIOS,
    ids=["jwt-blocking", "jwt-deferrable", "static-deferrable", "jwt-401", "static-401", "jwt-5xx-exhausted"],
)
def test_full_run_leaks_no_secret(
    dag_id: str,
    mode: str,
    wrong_secret: bool,
    server_errors: bool,
    state: str,
    shown: str,
    airflow_db: Path,
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    use_connection(monkeypatch, server, mode, WRONG_SECRET if wrong_secret else "")
    if server_errors:
        server.config.inject(Fault("error", code=5000, times=10_000))
    run = run_dag(dag_id, airflow_db, {"video_id": "825406034503692376"})
    assert run.state == state
    captured = collect(capfd, caplog)

    # The material is real: it shows what happened (so a leak would be visible in it too).
    assert shown in str(captured["stdout/stderr"]), "the run's output was not captured"
    tokens = tokens_sent(server)
    assert tokens, "the emulator saw no credentials"
    if state == "success":
        [task] = server.emulator.store.tasks.values()
        assert task.task_id in str(captured["XCom / rendered fields / trigger rows"])
        assert task.task_id.encode() in home_files()
    if mode == "jwt":
        assert all(t.count(".") == 2 for t in tokens)  # real JWTs were issued and must not leak either
    for where, corpus in captured.items():
        assert_no_secret(where, corpus, [*STATIC_SECRETS, *tokens])


def test_masker_hides_the_issued_jwt_in_a_real_task(
    airflow_db: Path,
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Positive control: a task that logs and prints the header it sent shows it masked."""
    use_connection(monkeypatch, server, "jwt")
    assert run_dag("kling_mask_check", airflow_db).state == "success"
    captured = collect(capfd, caplog)
    output = str(captured["stdout/stderr"]) + str(captured["log records"])
    assert "Authorization header sent: Bearer " in output
    assert "Secrets masker verdict on the token: ***" in output
    [token] = tokens_sent(server)
    # Not pytest's own log records: they hold the raw record this task deliberately built with
    # the token, before Airflow's handlers redact it. Every real sink is checked.
    del captured["log records"]
    for where, corpus in captured.items():
        assert_no_secret(where, corpus, [*STATIC_SECRETS, token])


@pytest.mark.parametrize("mode", ["jwt", "static"])
def test_exceptions_and_reprs_carry_no_secret(
    mode: str, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import traceback

    use_connection(monkeypatch, server, mode, WRONG_SECRET)
    hook = KlingHook()
    with pytest.raises(KlingAuthError) as auth_failure:
        hook.list_tasks("video-to-audio")
    use_connection(monkeypatch, server, mode)
    server.config.inject(Fault("error", code=5001, times=100))
    hook = KlingHook(retry=RetryPolicy(max_retries=1, min_wait=0.01, max_wait=0.01))
    with pytest.raises(KlingServerError) as server_failure:
        hook.list_tasks("video-to-audio")
    operator = VideoToAudioOperator(task_id="v2a", video_id="825406034503692376")
    operator.hook.get_conn()
    texts = [
        repr(hook),
        repr(hook._credentials),
        repr(operator),
        repr(operator.hook),
        str(vars(operator)),
        repr(vars(hook)),
    ]
    for failure in (auth_failure.value, server_failure.value):
        texts += [str(failure), repr(failure), "".join(traceback.format_exception(failure))]
    assert "Authorization is invalid" in texts[6]
    assert_no_secret(
        "exception messages and reprs", "\n".join(texts), [*STATIC_SECRETS, *tokens_sent(server)]
    )


def test_trigger_kwargs_hold_no_credentials(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from benchmarks.fault_run import RecordingTI

    use_connection(monkeypatch, server, "jwt")
    operator = VideoToAudioOperator(task_id="v2a", video_id="825406034503692376", deferrable=True)
    context: Any = {"ti": RecordingTI("dag", "run", "v2a")}
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    _, kwargs = deferred.value.trigger.serialize()
    assert set(kwargs) == {
        "task_id",  # Kling's id and the task kind under 0.1.0's keys until 1.0 (rolling upgrades)
        "kind",
        "kling_conn_id",
        "poll_interval",
        "deadline",
        "last_status",
        "wait_for_unknown",
    }
    assert_no_secret(
        "trigger kwargs", repr(kwargs) + repr(deferred.value.trigger), [*STATIC_SECRETS, *tokens_sent(server)]
    )
