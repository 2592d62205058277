"""Every Kling error is a KlingError with code, HTTP status and request_id; permanent ones also
end the Airflow task without its retries (``AirflowFailException``), as the task runner decides."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import RetryPolicy
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault

PERMANENT = [*range(1000, 1005), *range(1100, 1104), *range(1200, 1204), 1300, 1301, 1304]
TRANSIENT = [1302, 1303, 5000, 5001, 5002]


def refused_with(emulator: EmulatorServer, code: int) -> exc.KlingAPIError:
    emulator.config.faults.clear()
    emulator.config.inject(Fault("error", code=code, method="GET", times=10))
    with pytest.raises(exc.KlingAPIError) as info:
        KlingHook(retry=RetryPolicy(max_retries=1, min_wait=0.01, max_wait=0.01)).list_tasks("text2video")
    return info.value


def test_permanent_codes_fail_without_retry_and_keep_their_details(kling_conn: EmulatorServer) -> None:
    for code in PERMANENT:
        error = refused_with(kling_conn, code)
        assert isinstance(error, AirflowFailException) and exc.fails_without_retry(error), code
        assert isinstance(error, exc.KlingPermanentError) and not error.transient, code
        assert error.code == code and error.http_status and error.request_id, code
        # Kling's own words, as before: the message is not wrapped by the Airflow base class.
        assert str(error) == (
            f"Kling API error {code} (HTTP {error.http_status}): Emulated error {code} "
            f"(request_id: {error.request_id})"
        )


def test_the_request_id_survives_richs_markup(kling_conn: EmulatorServer) -> None:
    """Airflow's CLI prints errors through Rich: the id must come out of it, not vanish as a tag."""
    from rich.console import Console

    error = refused_with(kling_conn, 1002)
    console = Console(record=True, width=400, color_system=None)
    console.print(str(error))
    printed = console.export_text()
    assert error.request_id and f"(request_id: {error.request_id})" in printed, printed
    # The old format is what Rich swallowed: shown here so the test fails if that comes back.
    console.print(f"Kling API error 1002 [request_id={error.request_id}]")
    assert console.export_text().strip() == "Kling API error 1002"


def test_transient_codes_keep_airflows_normal_retries(kling_conn: EmulatorServer) -> None:
    for code in TRANSIENT:
        error = refused_with(kling_conn, code)
        assert isinstance(error, AirflowException) and error.transient, code
        assert not isinstance(error, AirflowFailException) and not exc.fails_without_retry(error), code


def test_unknown_codes_and_other_errors_are_retried_by_airflow() -> None:
    unknown = exc.api_error("new failure mode", code=1999, http_status=418, request_id=None)
    assert type(unknown) is exc.KlingAPIError and not exc.fails_without_retry(unknown)
    assert not exc.fails_without_retry(exc.KlingTaskFailedError("1", "Kling said no"))  # resubmits as -2
    assert not exc.fails_without_retry(exc.KlingTransportError("reset"))
    assert not exc.fails_without_retry(exc.KlingResponseError("not JSON"))
    assert not exc.fails_without_retry(RuntimeError("anything else"))


def test_not_found_lookups_still_work_with_the_permanent_class() -> None:
    """The hook reads 1200-1203 as "no such task" before a submit; that must not change."""
    for code, status in ((1203, 404), (1201, 400), (1200, 400)):
        error = exc.api_error("Task not found", code=code, http_status=status, request_id="r")
        assert exc.is_not_found(error) and isinstance(error, exc.KlingInvalidRequestError)
        assert exc.fails_without_retry(error)  # if it ever escapes: no retry fixes it
    assert not exc.is_not_found(exc.api_error("busy", code=5000, http_status=500, request_id="r"))


def test_validation_errors_fail_without_retry_before_any_request(kling_conn: EmulatorServer) -> None:
    op = VideoToAudioOperator(task_id="v2a", video_id="1", video_url="https://example.com/v.mp4")
    with pytest.raises(exc.KlingValidationError) as info:
        op.build_request()
    assert exc.fails_without_retry(info.value) and isinstance(info.value, ValueError)
    assert kling_conn.emulator.stats.requests == 0
