"""Drift fixes on the newer routes: new-design, image, speech tasks per account, no overdraft, envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from kling_emulator.billing import ResourcePack
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY
from tests.conftest import fast_config
from tests.emulator.test_emulator_contract import refused
from tests.emulator.test_emulator_drifts import RAIN, T2A, assert_envelope, bearer

T2V = "/text-to-video/kling-2.6"  # 5 s at 720p by default: 5 x 0.2 x 4 = 4 units
KITE = {"prompt": "A kite over the sea"}
IMAGES = "/v1/images/generations"  # kling-v3: 8 units per image; kling-v2-1 text-only: 4
EFFECTS = "/v1/videos/effects"  # 5 s (or input.duration) at 0.2 units/s


def post(server: EmulatorServer, path: str, body: Any, key: str = DEFAULT_API_KEY) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=bearer(key), timeout=30)


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200 and response.json()["code"] == 0, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.fixture
def accounts() -> Iterator[EmulatorServer]:
    """k1, k2 and the default API key in the default account; k3 in account "other"; tasks keep running."""
    config = fast_config(
        api_keys={"k1", "k2", "k3", DEFAULT_API_KEY},
        accounts={"k3": "other"},
        max_concurrent_tasks=1,
        submitted_seconds=30.0,
    )
    with EmulatorServer(config) as emulator:
        yield emulator


# ---------------------------------------------------------------------------- packs


def test_a_new_design_submit_is_refused_1102_when_the_packs_cannot_cover_it(accounts: EmulatorServer) -> None:
    accounts.config.max_concurrent_tasks = None
    accounts.config.resource_packs = [ResourcePack(total_quantity=6.0)]
    created(post(accounts, T2V, KITE, "k1"))  # 4 of 6 held
    refused(
        post(accounts, T2V, KITE, "k2"), "6 units left, 4 held by running tasks, this task needs 4", code=1102
    )
    assert created(post(accounts, T2A, RAIN, "k1"))["task_id"]  # a legacy task of 1 unit still fits: 5 of 6
    refused(post(accounts, T2V, KITE), "this task needs 4", code=1102)
    created(post(accounts, T2V, KITE, "k3"))  # the other account pays from its own packs


def test_an_image_task_is_refused_1102_when_the_packs_cannot_cover_it(accounts: EmulatorServer) -> None:
    accounts.config.max_concurrent_tasks = None
    accounts.config.resource_packs = [ResourcePack(total_quantity=10.0)]
    created(post(accounts, T2V, KITE, "k1"))  # a new-design task holds 4
    refused(post(accounts, IMAGES, {"prompt": "A cup"}, "k2"), "4 held", "this task needs 8", code=1102)
    refused(
        post(accounts, IMAGES, {"prompt": "Cups", "n": 2, "model_name": "kling-v2-1"}), "needs 8", code=1102
    )
    created(post(accounts, IMAGES, {"prompt": "A cup", "model_name": "kling-v2-1"}, "k2"))  # 4 + 4 of 10
    effect = {"effect_scene": "hug", "input": {"image": "https://cdn.example/a.png"}}
    created(post(accounts, EFFECTS, effect))  # 5 s: 1 unit, 9 of 10
    refused(
        post(accounts, EFFECTS, {**effect, "input": {**effect["input"], "duration": "10"}}),
        "needs 2",
        code=1102,
    )


def test_synchronous_tts_is_refused_1102_when_the_packs_are_held_by_running_tasks(
    accounts: EmulatorServer,
) -> None:
    accounts.config.max_concurrent_tasks = None
    accounts.config.resource_packs = [ResourcePack(total_quantity=4.0)]
    tts = {"text": "Hello", "voice_id": "oversea_male1", "voice_language": "en"}
    created(post(accounts, T2V, KITE, "k1"))  # all 4 units held
    refused(post(accounts, "/v1/audio/tts", tts, "k2"), "4 held by running tasks", code=1102)
    created(post(accounts, "/v1/audio/tts", tts, "k3"))


# ---------------------------------------------------------------------------- bad bodies


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (T2V, b"{not json", 1200),
        (T2V, b"[1, 2]", 1200),
        (T2V, b"\xff\xfe", 1200),
        (T2V, b'{"prompt": "\\ud800"}', 1201),
        ("/tasks", b"{not json", 1200),
        ("/tasks", b'"text"', 1200),
        (IMAGES, b"{not json", 1200),
        ("/v1/audio/tts", b'{"text": "\\udfff", "voice_id": "oversea_male1", "voice_language": "en"}', 1201),
    ],
)
def test_a_bad_body_to_a_newer_route_gets_a_kling_envelope(
    accounts: EmulatorServer, path: str, body: bytes, code: int
) -> None:
    answer = requests.post(accounts.url + path, data=body, headers=bearer("k1"), timeout=30)
    assert assert_envelope(answer, 400, (code,))["code"] == code


@pytest.mark.parametrize("path", [T2V, "/tasks", IMAGES])
def test_an_oversized_body_to_a_newer_route_gets_a_kling_envelope(path: str) -> None:
    with EmulatorServer(fast_config(max_body_bytes=1000)) as small:
        answer = requests.post(
            small.url + path, data=b" " * 2000, headers=bearer(DEFAULT_API_KEY), timeout=30
        )
        assert "1000 byte limit" in assert_envelope(answer, 413, (1200,))["message"]


def test_an_empty_body_still_lists_tasks(accounts: EmulatorServer) -> None:
    answer = requests.post(accounts.url + "/tasks", data=b"", headers=bearer("k1"), timeout=30)
    assert assert_envelope(answer, 200, (0,))["data"]["result"] == []


# ---------------------------------------------------------------------------- accounts


def test_a_second_key_of_the_account_sees_new_design_tasks_and_shares_the_limit(
    accounts: EmulatorServer,
) -> None:
    task = created(post(accounts, T2V, {**KITE, "options": {"external_task_id": "job-1"}}, "k1"))
    for query in (f"task_ids={task['id']}", "external_task_ids=job-1"):
        seen = requests.get(f"{accounts.url}/tasks?{query}", headers=bearer("k2"), timeout=30).json()["data"]
        assert [t["id"] for t in seen] == [task["id"]]
        hidden = requests.get(f"{accounts.url}/tasks?{query}", headers=bearer("k3"), timeout=30).json()[
            "data"
        ]
        assert hidden == []
    assert [t["id"] for t in created(post(accounts, "/tasks", {}, "k2"))["result"]] == [task["id"]]
    assert created(post(accounts, "/tasks", {}, "k3"))["result"] == []
    refused(post(accounts, T2V, KITE, "k2"), "arallel task", code=1303)  # the account's one slot is taken
    # An image task counts against the image packs (KLING_API §6: per pack type): not refused.
    assert post(accounts, IMAGES, {"prompt": "A cup"}, "k2").json()["code"] == 0
    created(post(accounts, T2V, {**KITE, "options": {"external_task_id": "job-1"}}, "k3"))  # its own slot, id
    accounts.config.max_concurrent_tasks = None
    duplicate = post(accounts, T2V, {**KITE, "options": {"external_task_id": "job-1"}}, "k2")
    refused(duplicate, "job-1", code=1201)  # external ids are unique per account, whichever key
