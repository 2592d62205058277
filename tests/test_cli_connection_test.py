"""`airflow connections test` against the emulator, read as a user reads it: the request id survives.

Airflow prints a failed test through Rich, which took the old ``[request_id=…]`` for a markup tag
and dropped it; the message now says ``(request_id: …)``. The CLI also refuses to test at all
unless ``[core] test_connection`` is ``Enabled``, which the docs tell users to set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from kling_emulator.server import EmulatorServer

AIRFLOW = Path(sys.executable).with_name("airflow")


def connections_test(
    emulator: EmulatorServer, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    conn = {"conn_type": "kling", "host": emulator.url, "password": "not-the-emulator-key"}
    environ = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW_CONN_KLING_DEFAULT": json.dumps(conn),
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [str(AIRFLOW), "connections", "test", "kling_default"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_wrong_key_shows_klings_message_and_request_id(emulator: EmulatorServer, tmp_path: Path) -> None:
    answer = connections_test(emulator, tmp_path, AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    output = answer.stdout + answer.stderr
    assert answer.returncode != 0, output
    # The emulator's request ids are UUID4s: the whole id must be printed, not an empty or cut one.
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.search(rf"Kling API error 1002 \(HTTP 401\): \S.*\(request_id: {uuid}\)", output), output
    assert emulator.emulator.stats.requests == 1  # one cheap read, sent once
    assert "not-the-emulator-key" not in output


def test_without_test_connection_enabled_the_cli_refuses(emulator: EmulatorServer, tmp_path: Path) -> None:
    answer = connections_test(emulator, tmp_path, AIRFLOW__CORE__TEST_CONNECTION="Disabled")
    assert answer.returncode != 0
    assert "Testing connections is disabled" in answer.stdout + answer.stderr
    assert emulator.emulator.stats.requests == 0
