"""``kling-emulator --state-file``: a stopped emulator comes back with its tasks and counters.

Real processes over real HTTP: the chaos run takes "Kling" down this way (SIGTERM, port
closed, restart on the same port) and needs every task the workers created to still be there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt

from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY

EMULATOR = [sys.executable, "-m", "kling_emulator.cli"]


def bearer() -> str:
    # JWT mode: its account is the access key's (EmulatorConfig.account_of, a name stable across
    # restarts, as for an API key: test_new_design_tasks_survive_an_emulator_restart).
    now = int(time.time())
    claims = {"iss": DEFAULT_ACCESS_KEY, "exp": now + 600, "nbf": now - 5}
    return "Bearer " + jwt.encode(claims, DEFAULT_SECRET_KEY, algorithm="HS256")


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", bearer())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


@contextmanager
def emulator(state: Path, *args: str, port: int = 0) -> Iterator[str]:
    """``kling-emulator --state-file`` in a process of its own, until SIGTERM; yields its URL.

    ``port`` 0 lets the emulator bind a free port itself and report it through ``--port-file``:
    a port probed here and handed over could be taken meanwhile by another test process (xdist),
    whose server would then answer these requests. A port given (the restart) must be free.
    """
    port_file = state.with_name(state.name + ".port")
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [*EMULATOR, "--port", str(port), "--port-file", str(port_file), "--state-file", str(state), *args]
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            assert proc.poll() is None, f"the emulator exited with {proc.returncode} (port {port} taken?)"
            assert time.monotonic() < deadline, "the emulator did not report its port within 30 s"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        assert call(f"{url}/_emulator/health")["status"] == "ok"
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)  # the clean stop that writes the state file
        proc.wait(20)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_tasks_settings_and_counters_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with emulator(state, "--processing-seconds", "1") as url:
        call(f"{url}/_emulator/config", {"submitted_seconds": 0.5, "processing_seconds": 30})
        created = call(f"{url}/v1/videos/text2video", {"prompt": "a boat", "external_task_id": "ext-1"})
        task_id = created["data"]["task_id"]
    assert state.exists()
    with emulator(state, "--processing-seconds", "1", port=port_of(url)) as url:
        again = call(f"{url}/v1/videos/text2video/ext-1")["data"]
        stats = call(f"{url}/_emulator/stats")
        duplicate = urllib.request.Request(
            f"{url}/v1/videos/text2video",
            data=json.dumps({"prompt": "a boat", "external_task_id": "ext-1"}).encode(),
            headers={"Authorization": bearer(), "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(duplicate, timeout=10)
            refused = None
        except urllib.error.HTTPError as exc:
            refused = json.loads(exc.read())["code"]
    assert again["task_id"] == task_id
    assert again["task_info"]["external_task_id"] == "ext-1"
    # The patched 30 s processing time came back too (the CLI said 1 s): still not finished.
    assert again["task_status"] in ("submitted", "processing")
    assert stats["submits"] == 1
    assert refused == 1201  # the restored external id still refuses a second task
    saved = state.read_text()
    assert DEFAULT_SECRET_KEY not in saved and DEFAULT_API_KEY not in saved and "Bearer" not in saved


def test_no_state_file_yet_starts_empty(tmp_path: Path) -> None:
    with emulator(tmp_path / "missing.json") as url:
        assert call(f"{url}/_emulator/health")["tasks"] == 0
