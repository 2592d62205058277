"""Property-based tests: whatever users pass and whatever Kling answers, only our typed errors escape.

- Operator arguments (raw and through a real Jinja render): an invalid value fails with a
  ``KlingValidationError`` naming the field and the rule, and *no* HTTP request is sent; a
  valid one reaches Kling (the emulator), and the only refusals left are those the client
  cannot check locally (an unknown ``video_id``, an unreachable ``video_url``).
- API responses (random, truncated, wrong-typed JSON, any HTTP status), decoded directly and
  served over HTTP by the emulator: only ``KlingError`` subclasses escape.

Examples are derandomized (same examples every run) and no example database is written.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.api.tasks import parse_task, parse_task_list
from airflow_provider_kling.exceptions import (
    KlingError,
    KlingInvalidRequestError,
    KlingResponseError,
    KlingValidationError,
)
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy, decode_envelope
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from benchmarks.fault_run import RecordingTI
from kling_emulator.server import EmulatorServer
from kling_emulator.state import SAMPLE_VIDEO_ID, Fault
from tests.conftest import conn_json, fast_config

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# Examples actually run per test: printed at the end of the module (pytest -s) for the report.
EXAMPLES: Counter[str] = Counter()
# A port nothing listens on: a "valid" video_url the emulator's probe fails on fast, offline.
UNREACHABLE = "http://127.0.0.1:9"
CONN_ID = "kling_fuzz"
REQUEST_FIELDS = ("video_id", "video_url", "sound_effect_prompt", "bgm_prompt", "asmr_mode")


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config()) as emulator:
        old = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = conn_json(emulator.url)
        yield emulator
        if old is None:
            os.environ.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}", None)
        else:
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = old
    print("\nfuzz examples run:", dict(EXAMPLES))


# ---------------------------------------------------------------------------- strategies

any_text = st.text(max_size=260)
# Per field: values that satisfy the contract, and values that break it (or are of a wrong type).
VALID: dict[str, st.SearchStrategy[Any]] = {
    "sound_effect_prompt": st.one_of(st.none(), st.just(""), st.text(max_size=200)),
    "bgm_prompt": st.one_of(st.none(), st.just(""), st.text(max_size=200)),
    "asmr_mode": st.one_of(st.booleans(), st.sampled_from(["true", "False", "yes", "0"])),
    "external_task_id": st.one_of(
        st.none(),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=100).filter(
            lambda t: not (t.strip() and set(t.strip()) <= {"."})  # dot-only ids are refused
        ),
    ),
    "callback_url": st.one_of(st.none(), st.just(f"{UNREACHABLE}/callback")),
    "poll_interval": st.floats(0.05, 10),
    "timeout": st.floats(1, 1e6),
}
too_long = st.text(min_size=201, max_size=260).filter(lambda t: len(t.strip()) > 200)
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "sound_effect_prompt": st.one_of(too_long, st.integers(), st.lists(st.text(), max_size=2)),
    "bgm_prompt": too_long,
    "asmr_mode": st.one_of(
        st.sampled_from(["maybe", "2", "", "nope"]),
        st.integers(2, 9),
        st.floats().filter(lambda f: f not in (0, 1)),
    ),
    "external_task_id": st.one_of(st.sampled_from([".", "..", "x" * 129]), st.integers(), st.booleans()),
    "callback_url": st.one_of(st.sampled_from(["ftp://x/cb", "http://", "localhost/cb"]), st.integers()),
    "poll_interval": st.one_of(st.sampled_from([0, -1, math.nan, math.inf, "10", None, True])),
    "timeout": st.one_of(st.sampled_from([0, -0.5, math.nan, "1h", None]), st.integers(-5, 0)),
}
valid_video = st.one_of(
    st.fixed_dictionaries({"video_id": st.one_of(st.just(SAMPLE_VIDEO_ID), st.from_regex(r"\A[0-9]{18}\Z"))}),
    st.fixed_dictionaries(
        {"video_url": st.builds(lambda p: f"{UNREACHABLE}/{p}.mp4", st.text("abcxyz/._-~%", max_size=20))}
    ),
    st.fixed_dictionaries({"video_id": st.just(SAMPLE_VIDEO_ID), "video_url": st.just("")}),
)
invalid_video: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.just({"video_id": "", "video_url": "   "}),
    st.fixed_dictionaries(
        {"video_id": st.just(SAMPLE_VIDEO_ID), "video_url": st.just(f"{UNREACHABLE}/v.mp4")}
    ),
    st.fixed_dictionaries(
        {
            "video_url": st.one_of(
                st.sampled_from(
                    ["ftp://h/v.mp4", "http://", "https//x", "file:///etc/passwd", "http://[::1"]
                ),
                st.integers(),
                st.text(max_size=30).filter(lambda t: "://" not in t and t.strip()),
            )
        }
    ),
    st.fixed_dictionaries(
        {"video_id": st.one_of(st.integers(), st.floats(), st.lists(st.text(), max_size=2))}
    ),
)


@st.composite
def operator_kwargs(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """Operator arguments and whether they should be valid: each field is broken with p = 1/8."""
    kwargs = {name: draw(strategy) for name, strategy in VALID.items()}
    valid = True
    for name in VALID:
        if draw(st.integers(0, 7)) == 0:
            kwargs[name] = draw(INVALID[name])
            valid = False
    if draw(st.integers(0, 5)) == 0:
        kwargs.update(draw(invalid_video))
        valid = False
    else:
        kwargs.update(draw(valid_video))
    return kwargs, valid


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {},
    optional={
        "task_id": st.one_of(st.text(max_size=20), st.integers(), json_values),
        "task_status": st.one_of(
            st.sampled_from(["submitted", "processing", "succeed", "failed"]), json_values
        ),
        "task_status_msg": json_values,
        "task_info": st.one_of(st.fixed_dictionaries({"external_task_id": json_values}), json_values),
        "task_result": st.one_of(
            st.fixed_dictionaries(
                {
                    "videos": st.lists(
                        st.dictionaries(st.sampled_from(["id", "url", "duration"]), json_values)
                    ),
                    "audios": st.one_of(
                        st.lists(
                            st.dictionaries(st.sampled_from(["id", "url_mp3", "duration_wav"]), json_values)
                        ),
                        json_values,
                    ),
                }
            ),
            json_values,
        ),
        "created_at": json_values,
        "final_unit_deduction": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.sampled_from([0, 0, 0, 1001, 1201, 1302, 1303, 5000]), json_values),
        "message": json_values,
        "request_id": json_values,
        "data": st.one_of(task_like, st.lists(task_like, max_size=3), json_values),
    },
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Envelope-shaped JSON, any JSON, truncated JSON, or arbitrary bytes."""
    kind = draw(st.sampled_from(["envelope", "envelope", "json", "truncated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    payload = draw(envelopes if kind != "json" else json_values)
    text = json.dumps(payload)
    if kind == "truncated":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text.encode()


# Answers a client must accept: a success envelope around a well-formed task, or a list of them.
good_task = st.fixed_dictionaries(
    {
        "task_id": st.from_regex(r"\A[0-9]{1,19}\Z"),
        "task_status": st.sampled_from(["submitted", "processing", "succeed", "failed"]),
    },
    optional={
        "task_status_msg": st.text(max_size=20),
        "task_info": st.fixed_dictionaries({"external_task_id": st.text(max_size=20)}),
        "created_at": st.integers(0, 2**41),
    },
)
good_answers = st.builds(
    lambda data, request_id: json.dumps(
        {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}
    ).encode(),
    st.one_of(good_task, st.lists(good_task, max_size=3)),
    st.text(max_size=10),
)
http_statuses = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503])


# ---------------------------------------------------------------------------- operator arguments


def _requests(server: EmulatorServer) -> int:
    return server.emulator.stats.requests


@settings(FUZZ, max_examples=300)
@given(case=operator_kwargs(), run=st.uuids())
def test_operator_arguments(server: EmulatorServer, case: tuple[dict[str, Any], bool], run: Any) -> None:
    kwargs, valid = case
    EXAMPLES["operator arguments"] += 1
    op = VideoToAudioOperator(
        task_id="v2a", kling_conn_id=CONN_ID, wait_for_completion=False, deferrable=False, **kwargs
    )
    before = _requests(server)
    context: Any = {"ti": RecordingTI("fuzz", str(run), "v2a")}
    try:
        result = op.execute(context)
    except KlingValidationError as error:
        assert not valid, f"valid arguments refused: {error}"
        assert _requests(server) == before, "invalid input must not reach Kling"
        assert str(error).startswith("Invalid "), error
        EXAMPLES["operator arguments: refused locally"] += 1
        return
    except KlingInvalidRequestError as error:
        # Only what the client cannot know: does this video id / URL exist and is it 3-20 s?
        assert valid and error.code == 1201, error
        assert any(word in str(error) for word in ("video_id", "video_url", "Video duration")), error
        EXAMPLES["operator arguments: refused by Kling (unknown video)"] += 1
        return
    assert valid, f"invalid arguments were accepted: {kwargs}"
    # (A repeated run id re-attaches to its earlier task, which may have finished meanwhile.)
    assert result["task_id"] in server.emulator.store.tasks
    EXAMPLES["operator arguments: submitted"] += 1


TEMPLATE_VALUES = st.fixed_dictionaries(
    {
        "video_id": st.one_of(st.none(), st.just(""), st.just(SAMPLE_VIDEO_ID), any_text),
        "video_url": st.one_of(st.none(), st.just(""), st.just(f"{UNREACHABLE}/v.mp4"), any_text),
        **{name: st.one_of(VALID[name], INVALID[name]) for name in REQUEST_FIELDS if name in VALID},
    }
)


TRUE_WORDS = {"1", "on", "t", "true", "y", "yes"}
FALSE_WORDS = {"0", "off", "f", "false", "n", "no"}


def contract_violations(rendered: dict[str, str]) -> set[str]:
    """The documented rules, applied to the rendered text independently of the request model:
    the fields each break (both video fields when not exactly one of video_id/video_url is given)."""
    broken = {name for name in ("sound_effect_prompt", "bgm_prompt") if len(rendered[name].strip()) > 200}
    if rendered["asmr_mode"].lower() not in TRUE_WORDS | FALSE_WORDS:
        broken.add("asmr_mode")
    url = rendered["video_url"].strip()
    if url:
        try:
            parts = urlsplit(url)
            http = parts.scheme in ("http", "https") and bool(parts.netloc)
        except ValueError:  # e.g. "http://[::1"
            http = False
        if not http:
            broken.add("video_url")
    if not broken and bool(rendered["video_id"].strip()) == bool(url):
        broken |= {"video_id", "video_url"}  # checked once every field is valid
    return broken


@settings(FUZZ, max_examples=300)
@given(values=TEMPLATE_VALUES)
def test_rendered_templates_fail_with_field_and_rule(server: EmulatorServer, values: dict[str, Any]) -> None:
    """Each field is a template; whatever it renders to is either valid or named in the error."""
    EXAMPLES["rendered templates"] += 1
    op = VideoToAudioOperator(
        task_id="v2a",
        kling_conn_id=CONN_ID,
        wait_for_completion=False,
        **{name: "{{ params." + name + " }}" for name in REQUEST_FIELDS},
    )
    op.render_template_fields({"params": values})
    rendered = {name: getattr(op, name) for name in REQUEST_FIELDS}
    assert all(isinstance(value, str) for value in rendered.values()), rendered  # Jinja renders text
    broken = contract_violations(rendered)
    before = _requests(server)
    try:
        request = op.build_request()
    except KlingValidationError as error:
        message = str(error)
        named = {name for name in (*REQUEST_FIELDS, "request") if f"{name}: " in message}
        assert broken, f"rendered values that meet the contract were refused: {rendered!r}: {message}"
        assert named, message
        assert named <= broken, f"the error names {named}, the contract breaks {broken}: {message}"
        assert _requests(server) == before
        EXAMPLES["rendered templates: refused"] += 1
        return
    assert not broken, f"rendered values breaking {broken} were accepted: {rendered!r}"
    assert _requests(server) == before, "building the request must not reach Kling"
    EXAMPLES["rendered templates: valid"] += 1
    # The request carries what was rendered: trimmed, blank meaning unset, the boolean as written.
    for name in ("video_id", "video_url", "sound_effect_prompt", "bgm_prompt"):
        assert getattr(request, name) == (rendered[name].strip() or None), name
    assert request.asmr_mode is (rendered["asmr_mode"].lower() in TRUE_WORDS)


# ---------------------------------------------------------------------------- API responses


@settings(FUZZ, max_examples=600)
@given(status=http_statuses, body=bodies(), request_id=st.one_of(st.none(), st.text(max_size=10)))
def test_decode_any_answer(status: int, body: bytes, request_id: str | None) -> None:
    EXAMPLES["decoded answers"] += 1
    try:
        envelope = decode_envelope(status, body, request_id)
    except KlingError:
        return
    assert envelope.code == 0 and status < 400
    for parse in (parse_task, parse_task_list):
        try:
            parse(envelope.data)
        except KlingResponseError as error:
            assert "Kling's" in str(error)


@settings(FUZZ, max_examples=500)
@given(data=st.one_of(task_like, json_values))
def test_parse_any_task(data: Any) -> None:
    EXAMPLES["parsed task objects"] += 1
    try:
        task = parse_task(data)
    except KlingResponseError:
        return
    assert task.task_id and task.to_xcom()["status"] in ("submitted", "processing", "succeed", "failed")
    json.dumps(task.to_xcom())  # what goes to XCom is always JSON


def decoded_directly(status: int, body: bytes, call: str) -> Any:
    """What the answer decodes to without HTTP in between: the task(s), or the typed error."""
    try:
        data = decode_envelope(status, body, None).data
        return parse_task_list(data) if call == "list" else parse_task(data)
    except KlingError as error:
        return error


@settings(FUZZ, max_examples=200)
@given(
    status=http_statuses,
    body=st.one_of(bodies(), good_answers),
    call=st.sampled_from(["get", "list", "submit"]),
)
def test_served_answers_over_http(server: EmulatorServer, status: int, body: bytes, call: str) -> None:
    """The emulator serves the body; the hook returns what it says or raises the typed error it means.

    Every request of the call gets this answer (the 401 re-sign, a submit's look-up by its
    external id), so the outcome must be the one decoding the answer directly gives.
    """
    EXAMPLES["answers served over HTTP"] += 1
    server.config.faults.clear()
    served = body.decode("utf-8", "replace")
    server.config.inject(Fault("body", body=served, http_status=status, times=10))
    hook = KlingHook(CONN_ID, retry=RetryPolicy(max_retries=0), timeout=5)

    async def go() -> Any:
        if call == "get":
            return await hook.aget_task("video-to-audio", "123")
        if call == "list":
            return await hook.alist_tasks("video-to-audio")
        return await hook.asubmit_task("video-to-audio", VideoToAudioRequest.build(video_id=SAMPLE_VIDEO_ID))

    # HTTP 204 has no content: the server sends none, whatever the fault's body says.
    expected = decoded_directly(status, b"" if status == 204 else served.encode(), call)
    try:
        result = hook.run_sync(go)
    except KlingError as error:
        # Only typed errors escape (anything else fails the test), and the same one as decoding
        # the answer directly gives: the HTTP layer neither hides nor invents a failure.
        assert isinstance(expected, KlingError), f"HTTP {status} {body!r}: the hook raised {error!r}"
        assert type(error) is type(expected), (error, expected)
        EXAMPLES["answers served over HTTP: typed error"] += 1
        return
    finally:
        server.config.faults.clear()
    assert not isinstance(expected, KlingError), f"HTTP {status} {body!r} accepted; decoding: {expected!r}"
    assert status < 400
    assert result == expected  # exactly what the served answer says, for get, list and submit
    EXAMPLES["answers served over HTTP: accepted"] += 1


def test_absurdly_nested_json_is_a_typed_error() -> None:
    with pytest.raises(KlingResponseError, match="not JSON"):
        decode_envelope(200, b"[" * 100_000 + b"]" * 100_000, None)


# ---------------------------------------------------------------------------- a real render: dag.test()


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {"video_id": SAMPLE_VIDEO_ID, "bgm_prompt": "x" * 201},
            "bgm_prompt: String should have at most 200",
        ),
        ({"video_id": SAMPLE_VIDEO_ID, "asmr_mode": "maybe"}, "asmr_mode: Input should be a valid boolean"),
        ({"video_url": "ftp://host/v.mp4"}, "video_url: must be an http:// or https:// URL"),
        (
            {"video_id": " ", "video_url": ""},
            "video_id, video_url: neither was given (an empty string counts as unset); "
            "exactly one of video_id or video_url must be given",
        ),
        ({"video_id": SAMPLE_VIDEO_ID, "bgm_prompt": "x" * 200}, None),
    ],
    ids=["prompt-too-long", "not-a-boolean", "not-http", "no-video", "valid"],
)
def test_dag_run_with_invalid_rendered_value_fails_naming_field_and_rule(
    conf: dict[str, Any],
    message: str | None,
    airflow_db: Any,
    kling_conn: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.dags.test_example_dags import load_dag

    run = load_dag(airflow_db, "kling_templated_inputs").test(run_conf=conf)
    output = "".join(capfd.readouterr())
    if message is None:
        assert run.state == "success"
        assert kling_conn.emulator.stats.submits == 1
        return
    assert run.state == "failed"
    assert f"KlingValidationError: Invalid VideoToAudioRequest: {message}" in output
    assert kling_conn.emulator.stats.requests == 0
