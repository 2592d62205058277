"""Any submit body gets a Kling answer from the emulator: a task, or a 1201/1203 envelope, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_emulator.errors import HTTP_STATUS_FOR_CODE
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_API_KEY
from tests.conftest import fast_config

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
PATHS = {
    "text2video": "/v1/videos/text2video",
    "image2video": "/v1/videos/image2video",
    "text-to-audio": "/v1/audio/text-to-audio",
}
FIELDS = [
    "model_name",
    "prompt",
    "negative_prompt",
    "image",
    "image_tail",
    "static_mask",
    "dynamic_masks",
    "camera_control",
    "cfg_scale",
    "mode",
    "sound",
    "aspect_ratio",
    "duration",
    "multi_shot",
    "shot_type",
    "multi_prompt",
    "element_list",
    "voice_list",
    "watermark_info",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "5", "10", "15", "3", "std", "pro", "4k", "on", "off", "kling-v3", "kling-v2-6"]),
    st.sampled_from(["simple", "customize", "intelligence", "https://cdn.example/a.png", "data:x", "%%"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=8),
        st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "config",
                    "zoom",
                    "pan",
                    "enabled",
                    "prompt",
                    "duration",
                    "mask",
                    "trajectories",
                    "x",
                    "y",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
# A valid body per endpoint with up to three fields replaced: both answers stay reachable.
VALID = {
    "text2video": {"prompt": "p"},
    "image2video": {"image": "https://cdn.example/a.png"},
    "text-to-audio": {"prompt": "Rain", "duration": 5},
}
changes = st.dictionaries(st.sampled_from(FIELDS), values, max_size=3)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config()) as emulator:
        yield emulator


@pytest.mark.parametrize("kind", PATHS)
@settings(FUZZ, max_examples=150)
@given(change=changes)
def test_any_body_gets_a_task_or_a_named_refusal(
    server: EmulatorServer, kind: str, change: dict[str, Any]
) -> None:
    body = {**VALID[kind], **change}
    # json.dumps, not requests' json=: NaN and Infinity go out as Python writes them.
    data = json.dumps(body)
    response = requests.post(server.url + PATHS[kind], data=data, headers=AUTH, timeout=10)
    answer = response.json()
    assert answer["code"] in (0, 1201, 1203), answer
    if answer["code"] == 0:
        assert response.status_code == 200 and answer["data"]["task_id"]
    else:
        assert response.status_code == HTTP_STATUS_FOR_CODE[answer["code"]]
        assert answer["message"]
