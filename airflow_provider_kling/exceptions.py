"""Typed errors for the Kling provider.

Errors are chosen by Kling's business ``code`` (never by matching message text), and every
API error carries the HTTP status, the code, Kling's message and the ``request_id`` so a
failed Airflow task tells the user exactly what to look up.  ``transient`` says whether the
hook's own retry with backoff may succeed.

Which errors use up an Airflow task's retries:

- Errors no retry can fix also derive from ``KlingPermanentError`` and therefore from Airflow's
  ``AirflowFailException``: the task fails at once, without its retries. These are auth
  (1000-1004, after the one JWT re-sign), account (1100-1103), parameters (1200-1203), content
  policy (1300-1301), IP whitelist (1304), our own validation errors, and a wait stopped by one
  of those (``KlingWaitAbortedError``).
- Everything else is retried by Airflow as usual, and a retry re-attaches to the Kling task the
  earlier try created: transient trouble (1302/1303, 5xx, network, unreadable answers), a wait
  that gave up after repeated polling errors (``KlingWaitError``), a Kling task that ``failed``
  (the retry submits a new one under ``<id>-2``) and the operator's wait ``timeout`` (the retry
  waits for the same task again).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

from airflow_provider_kling.version_compat import AirflowFailException, AirflowSensorTimeout


class KlingError(AirflowException):
    """Base class of every error raised by this provider."""

    transient: bool = False


class KlingPermanentError(KlingError, AirflowFailException):
    """An error no retry can fix: Airflow fails the task without using up its retries.

    Mixed into the concrete error classes, so they stay ``KlingError`` (and ``KlingAPIError``
    with code, HTTP status and request_id) and are also ``AirflowFailException``.
    """


def fails_without_retry(error: BaseException) -> bool:
    """Airflow's rule (task runner): these end the task at once; every other exception is retried."""
    return isinstance(error, (AirflowFailException, AirflowSensorTimeout))


class KlingValidationError(KlingPermanentError, ValueError):
    """Operator input that breaks the API contract; raised before any request is sent."""


class KlingAPIError(KlingError):
    """Kling answered with ``code != 0`` (or an HTTP error status)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.kling_message = message
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Kling API error {self.code}" if self.code is not None else "Kling API error"]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        text = " ".join(parts) + f": {self.kling_message or 'no message'}"
        if self.request_id:
            # Parentheses, not brackets: Airflow prints errors through Rich, which reads
            # "[request_id=...]" as a markup tag and drops it.
            text += f" (request_id: {self.request_id})"
        return text


class KlingAuthError(KlingAPIError, KlingPermanentError):
    """1000-1004: authentication failed, empty, invalid, not yet valid or expired."""


class KlingAccountError(KlingAPIError, KlingPermanentError):
    """1100-1103: account exception, arrears, resource pack used up or expired, no permission.

    No retry can fix these (someone has to pay or buy a pack): the task fails without retries.
    """


class KlingInvalidRequestError(KlingAPIError, KlingPermanentError):
    """1200-1203: invalid request parameters (including unknown task ids)."""


class KlingContentPolicyError(KlingAPIError, KlingPermanentError):
    """1300-1301: the content policy was triggered."""


class KlingRateLimitError(KlingAPIError):
    """1302: too many requests; back off and retry."""

    transient = True


class KlingConcurrencyLimitError(KlingAPIError):
    """1303: too many parallel tasks for the account; back off (longer) and retry."""

    transient = True


class KlingIPWhitelistError(KlingAPIError, KlingPermanentError):
    """1304: the caller's IP is not on the account's whitelist."""


class KlingServerError(KlingAPIError):
    """5000-5002 or an HTTP 5xx: server error, unavailable or timeout; retry."""

    transient = True


class KlingTransportError(KlingError):
    """The request did not produce an HTTP answer: connection refused/reset, timeout."""

    transient = True


class KlingTLSError(KlingTransportError, KlingPermanentError):
    """Kling's (or a proxy's) TLS certificate is not trusted: set the extra's ``verify``. Not retried."""

    transient = False


class KlingResponseError(KlingError):
    """Kling's answer could not be understood (not JSON, or required fields missing).

    Treated as transient: a proxy hiccup is the usual cause, and every read is idempotent.
    """

    transient = True


class KlingWebhookError(KlingError):
    """A callback whose Webhook Signature is missing or wrong, or whose timestamp is stale.

    The message names what failed, never the secret nor the signatures.
    """


class KlingBudgetError(KlingPermanentError):
    """The packs' remaining units are below ``min_remaining_units``: nothing was submitted.

    Retrying would read the same figures, so the task fails without Airflow retries.
    """


class KlingTaskFailedError(KlingError):
    """The Kling task reached ``failed``; the message is Kling's ``task_status_msg``."""

    def __init__(self, task_id: str, status_message: str) -> None:
        self.task_id = task_id
        self.status_message = status_message
        super().__init__(f"Kling task {task_id} failed: {status_message or 'no reason given by Kling'}")


class KlingSyncAnswerPendingError(KlingError):
    """A synchronous call (TTS) answered ``submitted``/``processing``: nothing to poll, try again.

    Kling documents no query path for it, so the result cannot be fetched later; an Airflow
    retry calls (and pays) again.
    """

    transient = True

    def __init__(self, task_id: str, status: str, what: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"Kling answered the synchronous {what} call with task {task_id} still {status!r}: there is "
            "no query path to wait on (KLING_API §9.1), so the call counts as failed; an Airflow retry "
            "calls again (and pays again)"
        )


class KlingWaitError(KlingError):
    """Waiting gave up after repeated polling errors; an Airflow retry re-attaches and may succeed.

    ``code``, ``http_status`` and ``request_id`` are those of the last polling error, when Kling
    answered one.
    """

    transient = True

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.request_id = request_id


class KlingWaitAbortedError(KlingWaitError, KlingPermanentError):
    """Waiting stopped on an error no retry can fix (say, a revoked key): fails without retries."""

    transient = False


class KlingTaskTimeoutError(KlingError):
    """Waiting for a Kling task exceeded the operator's ``timeout``; a retry waits for it again."""

    def __init__(self, task_id: str, waited_seconds: float, last_status: str | None) -> None:
        self.task_id = task_id
        super().__init__(
            f"Timed out after {waited_seconds:.0f}s waiting for Kling task {task_id} "
            f"(last status: {last_status or 'unknown'}). The task may still finish on Kling's side: "
            f"look it up by task id {task_id}, or re-run with a longer timeout to re-attach to it."
        )


class KlingCapacityTimeoutError(KlingError):
    """The account stayed at its parallel-task limit (1303) until the operator's ``timeout``.

    Nothing was created or paid for: every submit of this task was refused by Kling.
    """

    def __init__(self, message: str, *, waited_seconds: float) -> None:
        self.waited_seconds = waited_seconds
        super().__init__(message)

    @classmethod
    def after(
        cls, what: str, waited_seconds: float, last_refusal: KlingAPIError | None
    ) -> KlingCapacityTimeoutError:
        last = f" Kling's last answer: {last_refusal}." if last_refusal is not None else ""
        return cls(
            f"{what}: gave up after waiting {waited_seconds:.0f}s for a free Kling parallel-task slot: "
            f"the account stayed at its parallel-task limit (error 1303).{last} Nothing was submitted "
            "or paid for. Raise the operator's timeout, run fewer Kling tasks at once (a pool sized "
            "to the account), or use a pack with more parallel tasks.",
            waited_seconds=waited_seconds,
        )


class KlingSensorTimeoutError(KlingTaskTimeoutError, AirflowSensorTimeout):
    """A deferred ``KlingTaskSensor`` passed its ``timeout``: no retry, as in poke mode."""


_CODE_RANGES: list[tuple[int, int, type[KlingAPIError]]] = [
    (1000, 1004, KlingAuthError),
    (1100, 1103, KlingAccountError),
    (1200, 1203, KlingInvalidRequestError),
    (1300, 1301, KlingContentPolicyError),
    (1302, 1302, KlingRateLimitError),
    (1303, 1303, KlingConcurrencyLimitError),
    (1304, 1304, KlingIPWhitelistError),
    (5000, 5002, KlingServerError),
]


def error_class_for(code: int | None, http_status: int | None) -> type[KlingAPIError]:
    """Pick the exception class: by Kling code first, by HTTP status when the code is unknown."""
    if code is not None:
        for low, high, cls in _CODE_RANGES:
            if low <= code <= high:
                return cls
    if http_status is not None:
        if http_status >= 500:
            return KlingServerError
        if http_status == 401:
            return KlingAuthError
        if http_status == 403:  # Kling's only 403 is 1103, no permission for the API/model
            return KlingAccountError
        if http_status == 429:
            return KlingRateLimitError
        if http_status in (400, 404, 422):
            return KlingInvalidRequestError
    return KlingAPIError


def api_error(
    message: str, *, code: int | None, http_status: int | None, request_id: str | None
) -> KlingAPIError:
    cls = error_class_for(code, http_status)
    return cls(message, code=code, http_status=http_status, request_id=request_id)


def is_not_found(error: BaseException) -> bool:
    """Whether an error answering ``GET …/{id}`` means "no such task".

    The id is the only parameter of that call, so any 1200-1203 / HTTP 400-404 answer means the
    server does not know it. Servers differ in which one they use (404, 1203 "resource does not
    exist", 1201 "invalid parameter"): treating only one of them as "not found" would make the
    look-up before a submit fail against the others.
    """
    return isinstance(error, KlingInvalidRequestError)
