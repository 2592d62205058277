"""Issue 22's emulator drifts: an envelope for every bad body, limits and tasks per account, no overdraft."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from kling_emulator import billing
from kling_emulator.billing import ResourcePack
from kling_emulator.cli import build_parser
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY
from tests.conftest import fast_config

T2A = "/v1/audio/text-to-audio"
RAIN = {"prompt": "Rain", "duration": 5}  # 5 s at 0.2 units/s: 1 unit


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def jwt_auth() -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"iss": DEFAULT_ACCESS_KEY, "exp": now + 1800, "nbf": now - 5}, DEFAULT_SECRET_KEY)
    return bearer(token)


def post_raw(server: EmulatorServer, body: bytes, key: str = DEFAULT_API_KEY) -> requests.Response:
    return requests.post(server.url + T2A, data=body, headers=bearer(key), timeout=30)


def submit(server: EmulatorServer, key: str, **fields: Any) -> dict[str, Any]:
    response = requests.post(server.url + T2A, json={**RAIN, **fields}, headers=bearer(key), timeout=30)
    return {"status": response.status_code, **response.json()}


def assert_envelope(response: requests.Response, status: int, codes: tuple[int, ...]) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert body["code"] in codes and body["request_id"] and "data" in body, body
    return body


# ---------------------------------------------------------------------------- bad bodies


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config(max_body_bytes=64 * 1024)) as emulator:
        yield emulator


def test_a_body_over_the_size_limit_gets_a_413_envelope(server: EmulatorServer) -> None:
    body = b'{"prompt": "' + b"x" * (200 * 1024) + b'", "duration": 5}'
    answer = assert_envelope(post_raw(server, body), 413, (1200,))
    assert "65536 byte limit" in answer["message"]
    assert not server.emulator.store.tasks


@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_a_deeply_nested_body_gets_a_1201_envelope(server: EmulatorServer, opener: str, closer: str) -> None:
    body = (opener * 5_000 + closer * 5_000).encode()  # past Python's recursion limit, under 64 KiB
    answer = assert_envelope(post_raw(server, body), 400, (1201,))
    assert "nests too deeply" in answer["message"]


BAD_BODIES = {
    "empty": b"",
    "not utf-8": b'{"prompt": "\xff\xfe"}',
    "truncated": b'{"prompt": "Rain", "duration": ',
    "array": b"[]",
    "null": b"null",
    "number": b"5",
    "string": b'"prompt"',
    "int past the digit limit": b'{"duration": ' + b"9" * 5000 + b"}",
    "NaN duration": b'{"prompt": "Rain", "duration": NaN}',
    "Infinity duration": b'{"prompt": "Rain", "duration": Infinity}',
    "nested prompt": b'{"prompt": {"text": ["Rain"]}, "duration": 5}',
    "trailing garbage": b'{"prompt": "Rain", "duration": 5} x',
    "BOM": b'\xef\xbb\xbf{"prompt": "Rain", "duration": 5}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_any_bad_body_gets_a_kling_envelope(server: EmulatorServer, body: bytes) -> None:
    assert_envelope(post_raw(server, body), 400, (1200, 1201))
    assert not server.emulator.store.tasks


def test_a_lone_surrogate_in_external_task_id_is_refused_naming_the_field(server: EmulatorServer) -> None:
    body = b'{"prompt": "Rain", "duration": 5, "external_task_id": "job-\\ud800"}'
    answer = assert_envelope(post_raw(server, body), 400, (1201,))
    assert answer["message"].startswith("external_task_id: not valid Unicode text")
    nested = b'{"prompt": "Rain", "duration": 5, "watermark_info": {"enabled": "\\udfff"}}'
    assert "watermark_info.enabled" in assert_envelope(post_raw(server, nested), 400, (1201,))["message"]
    # A surrogate pair is a real character (an emoji): accepted, and shown back as it was sent.
    pair = b'{"prompt": "Rain", "duration": 5, "external_task_id": "job-\\ud83d\\ude00"}'
    created = assert_envelope(post_raw(server, pair), 200, (0,))
    assert created["data"]["task_info"]["external_task_id"] == "job-\N{GRINNING FACE}"


# ---------------------------------------------------------------------------- accounts


@pytest.fixture
def accounts() -> Iterator[EmulatorServer]:
    """k1, k2 and the default API key and AK/SK in the default account; k3 in account "other"."""
    config = fast_config(
        api_keys={"k1", "k2", "k3", DEFAULT_API_KEY},
        accounts={"k3": "other"},
        max_concurrent_tasks=1,
        submitted_seconds=30.0,  # tasks stay running for the whole test
    )
    with EmulatorServer(config) as emulator:
        yield emulator


def test_the_parallel_limit_is_shared_by_all_keys_of_an_account(accounts: EmulatorServer) -> None:
    assert submit(accounts, "k1")["code"] == 0
    for key in ("k2", DEFAULT_API_KEY):  # same account: its one slot is taken
        refused = submit(accounts, key)
        assert (refused["status"], refused["code"]) == (429, 1303)
    refused = requests.post(accounts.url + T2A, json=RAIN, headers=jwt_auth(), timeout=30).json()
    assert refused["code"] == 1303  # the AK/SK of that account too
    assert submit(accounts, "k3")["code"] == 0  # another account has its own slot


def test_tasks_and_external_ids_are_per_account(accounts: EmulatorServer) -> None:
    task = submit(accounts, "k1", external_task_id="job-1")["data"]
    for headers in (bearer("k2"), jwt_auth()):  # any key of the account sees the task
        for ident in (task["task_id"], "job-1"):
            got = requests.get(f"{accounts.url}{T2A}/{ident}", headers=headers, timeout=30).json()
            assert got["data"]["task_id"] == task["task_id"]
        listed = requests.get(accounts.url + T2A, headers=headers, timeout=30).json()["data"]
        assert [t["task_id"] for t in listed] == [task["task_id"]]
    hidden = requests.get(f"{accounts.url}{T2A}/{task['task_id']}", headers=bearer("k3"), timeout=30)
    assert_envelope(hidden, 404, (1203,))
    assert requests.get(accounts.url + T2A, headers=bearer("k3"), timeout=30).json()["data"] == []
    accounts.config.max_concurrent_tasks = None
    duplicate = submit(accounts, "k2", external_task_id="job-1")  # unique per account, whichever key
    assert (duplicate["status"], duplicate["code"]) == (400, 1201)
    assert submit(accounts, "k3", external_task_id="job-1")["code"] == 0  # another account's own id


# ---------------------------------------------------------------------------- packs


def test_packs_cannot_be_overdrawn_by_running_tasks(accounts: EmulatorServer) -> None:
    accounts.config.max_concurrent_tasks = None
    accounts.config.resource_packs = [ResourcePack(total_quantity=2.7)]
    assert submit(accounts, "k1")["code"] == 0  # 1 unit held
    assert submit(accounts, "k2")["code"] == 0  # 2 of 2.7 held
    refused = submit(accounts, "k1")  # 3 > 2.7: the pack would be overdrawn
    assert (refused["status"], refused["code"]) == (429, 1102)
    assert "2.7 units left, 2 held by running tasks, this task needs 1)" in refused["message"]
    assert submit(accounts, "k1", duration=3)["code"] == 0  # 3 s: 0.6 units fit
    assert submit(accounts, "k3")["code"] == 0  # the other account pays from its own packs
    query = {"start_time": 0, "end_time": 99_999_999_999_999}
    for key, total in (("k1", 2.7), ("k3", 1_000_000.0)):
        costs = requests.get(f"{accounts.url}/account/costs", params=query, headers=bearer(key), timeout=30)
        assert [p["total_quantity"] for p in costs.json()["data"]["resource_pack_subscribe_infos"]] == [total]


def test_units_held_are_released_when_a_task_is_charged() -> None:
    config = fast_config(resource_packs=[ResourcePack(total_quantity=2.0)])
    with EmulatorServer(config) as emulator:
        assert submit(emulator, DEFAULT_API_KEY)["code"] == 0
        assert submit(emulator, DEFAULT_API_KEY)["code"] == 0
        assert submit(emulator, DEFAULT_API_KEY)["code"] == 1102  # 2 held of 2
        time.sleep(config.submitted_seconds + config.processing_seconds + 0.2)
        exhausted = submit(emulator, DEFAULT_API_KEY, duration=3)  # both charged: nothing left
        assert (exhausted["status"], exhausted["code"]) == (429, 1102)
        assert "0 units left, 0 held" in exhausted["message"]


def test_a_charge_recorded_without_an_account_is_the_callers() -> None:
    """Handlers that record a charge without naming the account charge the one whose request it is."""
    ledger = billing.Ledger()
    packs = {"default": [ResourcePack(total_quantity=5)], "other": [ResourcePack(total_quantity=5)]}
    token = billing.current_account.set("other")  # what KlingEmulator._handler sets after auth
    try:
        ledger.record("task-1", 0.0, 2.0)
    finally:
        billing.current_account.reset(token)
    ledger.record("task-2", 0.0, 1.0)  # outside a request: the default account
    ledger.settle(packs.__getitem__, now=1.0)
    assert [account[0].remaining for account in packs.values()] == [4.0, 3.0]


# ---------------------------------------------------------------------------- CLI


def test_help_shows_the_default_credentials() -> None:
    text = " ".join(build_parser().format_help().split())
    for credential in (DEFAULT_API_KEY, DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY):
        assert credential in text


def test_the_start_banner_shows_the_default_credentials(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "kling_emulator.cli", "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert port_file.exists(), "the emulator did not start"
    finally:
        process.send_signal(signal.SIGTERM)
        banner = process.communicate(timeout=30)[0]
    assert f"password={DEFAULT_API_KEY}" in banner
    assert f"login={DEFAULT_ACCESS_KEY} password={DEFAULT_SECRET_KEY}" in banner


def test_the_banner_does_not_echo_credentials_you_chose() -> None:
    from kling_emulator.cli import banner_lines

    args = build_parser().parse_args(["--secret-key", "my-own-secret", "--api-key", "my-own-key"])
    text = "\n".join(banner_lines(args, "http://127.0.0.1:1"))
    assert "my-own-secret" not in text and "my-own-key" not in text
    assert "<--secret-key>" in text and "<--api-key>" in text
