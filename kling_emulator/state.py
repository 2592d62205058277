"""The emulator's configuration and task store: the Kling task lifecycle, by the clock."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

# DEFAULT_ACCOUNT: limits, tasks and packs are the account's, "shared by all API keys"
# (docs/kling-api.md#concurrency).
from kling_emulator.billing import DEFAULT_ACCOUNT, ResourcePack, default_packs

DEFAULT_ACCESS_KEY = "emulator-access-key"
DEFAULT_SECRET_KEY = "emulator-secret-key-0123456789abcdef"
DEFAULT_API_KEY = "emulator-api-key"

# A video the emulator "generated" before it started: lets a DAG use video_id right away.
SAMPLE_VIDEO_ID = "825406034503692376"
SAMPLE_VIDEO_SECONDS = 5.1


@dataclass
class Fault:
    """One scripted misbehaviour, applied to the next ``times`` matching API requests.

    ``action``: ``error`` (answer Kling ``code``), ``body`` (answer ``body`` raw with
    ``http_status``), ``reset_before`` (drop the connection without handling the request),
    ``reset_after`` (handle it, e.g. create the task, then drop the connection), ``slow``
    (sleep ``delay`` seconds, then handle it). With ``after=True`` an ``error`` or ``body``
    fault first handles the request (a submit creates its task) and then answers wrongly:
    the client cannot know whether the task exists.
    """

    action: str = "error"
    code: int = 5000
    http_status: int | None = None
    body: str = ""
    delay: float = 0.0
    method: str | None = None  # "POST" to hit submits only, "GET" for reads
    times: int = 1
    after: bool = False


# What the random ``body`` faults answer: cut off mid-way, and the seed document's bare ``{}``.
MALFORMED_JSON_BODY = '{"code": 0, "message": "SUCCEED", "request_id": "trunc", "data": {"task_id": "'
EMPTY_BODY = "{}"


@dataclass
class FaultRates:
    """Random misbehaviour: each field is the probability that one API request gets that fault.

    Request-level faults are drawn from one seeded generator (reproducible for a sequential
    client; concurrent clients interleave differently). ``task_failure`` is decided per
    ``external_task_id`` by a seeded hash, so the same submit fails on every run with that seed.
    ``server_error`` and the body faults hit a submit *after* its task was created half the time.
    """

    server_error: float = 0.0  # 5000-5002 (HTTP 500, 503, 504)
    rate_limited: float = 0.0  # 1302
    concurrency_limited: float = 0.0  # 1303 (submits only)
    reset_before: float = 0.0  # connection dropped, nothing done
    reset_after: float = 0.0  # request handled (task created), then connection dropped
    slow: float = 0.0  # answer only after ``slow_seconds`` (past the client's timeout)
    slow_seconds: float = 2.0
    malformed_json: float = 0.0  # a truncated JSON body
    empty_body: float = 0.0  # a bare ``{}``
    task_failure: float = 0.0  # the created task ends ``failed`` with ``task_failure_message``
    task_failure_message: str = "Emulated failure: the video could not be processed"

    def request_faults(self) -> dict[str, float]:
        return {
            name: getattr(self, name)
            for name in (
                "server_error",
                "rate_limited",
                "concurrency_limited",
                "reset_before",
                "reset_after",
                "slow",
                "malformed_json",
                "empty_body",
            )
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FaultRates:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise KeyError(f"fault_rates: unknown {sorted(unknown)}")
        return cls(**values)


CALLBACK_FORMATS = ("legacy", "new")


def check_webhook_secret(secret: str) -> None:
    """Kling's webhook secrets are ``whsec_`` + Base64 of the key (docs/kling-api.md#webhook-signature)."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError("webhook_secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook_secret: the part after 'whsec_' must be Base64") from None
    if not key:
        raise ValueError("webhook_secret is empty after 'whsec_'")


@dataclass
class EmulatorConfig:
    """Everything a test or a developer may want to tune. Mutable while the server runs."""

    access_keys: dict[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})
    # Credential (an API key or an access key) -> its account; one not named is in DEFAULT_ACCOUNT.
    # The parallel-task limit, task lookup and listing, external_task_id uniqueness and the packs
    # are per account, shared by all of its keys.
    accounts: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    # Lifecycle: submitted for this long, then processing for this long, then succeed/failed.
    submitted_seconds: float = 0.2
    processing_seconds: float = 1.0
    # A prompt containing this marker makes the task fail with a status message.
    fail_marker: str = "[fail]"
    fail_message: str = "Emulated failure: the prompt asked for it"
    # Limits: parallel (non-terminal) tasks per account and pack type (video / image) -> 1303;
    # requests per second per account -> 1302. Kling counts parallel tasks per account and pack type,
    # shared by all keys (both versions of the page); the 2026-09 one also splits by model version,
    # which the emulator does not: its count is the stricter one (docs/kling-api.md#concurrency);
    # 1302: docs/kling-api.md#rate-limits.
    max_concurrent_tasks: int | None = None
    max_requests_per_second: float | None = None
    # Video-to-audio source video rules (docs/kling-api.md#video-to-audio): 3.0-20.0 s.
    min_video_seconds: float = 3.0
    max_video_seconds: float = 20.0
    # Answer list calls with thin entries (no task_result), as some servers do.
    list_omits_results: bool = False
    # Video models newer than the emulator's table, accepted with the generic rules only.
    extra_models: list[str] = field(default_factory=list)
    # Callbacks (docs/kling-api.md#callbacks): "legacy" (a bare task object, what the /v1 endpoints
    # send) or "new" (new design).
    callback_format: str = "legacy"
    # A ``whsec_`` secret: callbacks then carry the Webhook Signature headers; none without it
    # (docs/kling-api.md#webhook-signature).
    webhook_secret: str | None = field(default=None, repr=False)
    # Billing (billing.py): packs drawn down by succeeded tasks at a made-up price; a submit
    # answers 1102 when the units left, less those its running tasks will draw, do not cover it.
    # ``resource_packs`` are DEFAULT_ACCOUNT's; other accounts' in ``account_packs`` (default_packs()
    # for one not named).
    resource_packs: list[ResourcePack] = field(default_factory=default_packs)
    account_packs: dict[str, list[ResourcePack]] = field(default_factory=dict)
    units_per_second: float = 0.2
    # Scripted faults, consumed in order by matching requests; then random ones at these rates.
    faults: list[Fault] = field(default_factory=list)
    fault_rates: FaultRates = field(default_factory=FaultRates)
    seed: int | None = None
    # The largest request body read; a larger one gets HTTP 413 with a 1200 envelope (bodies.py).
    max_body_bytes: int = 32 * 1024**2
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _rng_seed: Any = field(default=object(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.callback_format not in CALLBACK_FORMATS:
            raise ValueError(f"callback_format must be one of {CALLBACK_FORMATS}")
        if self.webhook_secret is not None:
            check_webhook_secret(self.webhook_secret)

    def account_of(self, credential: str) -> str:
        return self.accounts.get(credential, DEFAULT_ACCOUNT)

    def packs_for(self, account: str) -> list[ResourcePack]:
        """The account's resource packs (``resource_packs`` for DEFAULT_ACCOUNT)."""
        if account == DEFAULT_ACCOUNT:
            return self.resource_packs
        with self._lock:
            return self.account_packs.setdefault(account, default_packs())

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def take_fault(self, method: str) -> Fault | None:
        """The next scripted fault for this request, else a random one (``fault_rates``), else None."""
        with self._lock:
            for fault in self.faults:
                if fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return self._random_fault(method)

    def _random_fault(self, method: str) -> Fault | None:
        if self._rng_seed != self.seed:  # (re)seeded lazily: ``seed`` may be set after creation
            self._rng.seed(self.seed)
            self._rng_seed = self.seed
        rates = self.fault_rates
        roll = self._rng.random()
        for name, rate in rates.request_faults().items():
            if roll >= rate:
                roll -= rate
                continue
            if name == "concurrency_limited" and method != "POST":
                return None
            after = method == "POST" and self._rng.random() < 0.5
            if name == "server_error":
                return Fault("error", code=self._rng.choice((5000, 5001, 5002)), after=after)
            if name == "rate_limited":
                return Fault("error", code=1302)
            if name == "concurrency_limited":
                return Fault("error", code=1303)
            if name in ("reset_before", "reset_after"):
                return Fault(name)
            if name == "slow":
                return Fault("slow", delay=rates.slow_seconds)
            body = MALFORMED_JSON_BODY if name == "malformed_json" else EMPTY_BODY
            return Fault("body", body=body, http_status=200, after=after)
        return None

    def task_fails(self, external_task_id: str) -> bool:
        """Whether a new task with this id should end ``failed`` (seeded, order independent)."""
        rate = self.fault_rates.task_failure
        if rate <= 0:
            return False
        digest = hashlib.sha256(f"{self.seed}\x1f{external_task_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate

    def patch(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key.startswith("_") or not hasattr(self, key):
                raise KeyError(key)
            if key == "api_keys":
                value = set(value)
            if key == "faults":
                value = [Fault(**f) for f in value]
            if key == "fault_rates":
                value = FaultRates.from_dict(value)
            if key == "callback_format" and value not in CALLBACK_FORMATS:
                raise ValueError(f"callback_format must be one of {CALLBACK_FORMATS}")
            if key == "webhook_secret" and value is not None:
                check_webhook_secret(value)
            if key == "resource_packs":
                value = [ResourcePack.from_dict(p) for p in value]
            if key == "account_packs":
                value = {str(a): [ResourcePack.from_dict(p) for p in packs] for a, packs in value.items()}
            if key == "accounts":
                value = {str(k): str(a) for k, a in dict(value).items()}
            setattr(self, key, value)


# Tasks that count against the account's image packs (KLING_API §6); every other task, the video packs.
IMAGE_KINDS = frozenset({"image-generation", "omni-image"})


def pack_of(kind: str) -> str:
    """The pack type whose parallel-task limit a task of ``kind`` counts against."""
    return "image" if kind in IMAGE_KINDS else "video"


@dataclass
class EmulatedTask:
    task_id: str
    kind: str
    owner: str
    external_task_id: str
    request: dict[str, Any]
    created: float
    duration: float
    fail_message: str | None = None
    callback_url: str | None = None
    video_ids: list[str] = field(default_factory=list)
    audio_ids: list[str] = field(default_factory=list)
    # Video-to-audio: the source video ``{id, url, duration}`` (``task_info.parent_video``).
    parent_video: dict[str, str] | None = None
    # Speech, lip-sync, avatar, image and effect tasks (outputs.py): parallel-task slots held (an
    # image task holds ``n``), units charged, ``task_result`` with file names for URLs, and how
    # each result file is made; a synchronous task (TTS, identify-face) is finished when created.
    slots: int = 1
    units: float | None = None
    result: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    synchronous: bool = False

    def status(self, config: EmulatorConfig, now: float | None = None) -> str:
        """``submitted`` -> ``processing`` -> ``succeed`` | ``failed`` (docs/kling-api.md#task-statuses)."""
        age = (now if now is not None else time.time()) - self.created
        if self.synchronous:
            return "failed" if self.fail_message else "succeed"
        if age < config.submitted_seconds:
            return "submitted"
        if age < config.submitted_seconds + config.processing_seconds:
            return "processing"
        return "failed" if self.fail_message else "succeed"

    def finishes_at(self, config: EmulatorConfig) -> float:
        if self.synchronous:
            return self.created
        return self.created + config.submitted_seconds + config.processing_seconds


class TaskStore:
    """All tasks, by id, with lookup by (owner, external_task_id); the owner is the account."""

    def __init__(self) -> None:
        self.tasks: dict[str, EmulatedTask] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        # Durations of the videos this emulator generated (video-to-audio checks video_id here).
        self.videos: dict[str, float] = {SAMPLE_VIDEO_ID: SAMPLE_VIDEO_SECONDS}
        # Where each generated video is served (``task_info.parent_video.url`` of its audio tasks).
        self.video_urls: dict[str, str] = {}
        self._ids = itertools.count(int(time.time() * 1000) * 1000)

    def new_id(self) -> str:
        return str(next(self._ids))

    def add(self, task: EmulatedTask) -> None:
        self.tasks[task.task_id] = task
        if task.external_task_id:
            self.by_external[(task.owner, task.external_task_id)] = task.task_id

    def find(self, owner: str, ident: str, kind: str) -> EmulatedTask | None:
        task = self.tasks.get(ident)
        if task is None:
            task_id = self.by_external.get((owner, ident))
            task = self.tasks.get(task_id) if task_id else None
        if task is None or task.owner != owner or task.kind != kind:
            return None
        return task

    def list(self, owner: str, kind: str) -> list[EmulatedTask]:
        mine = [t for t in self.tasks.values() if t.owner == owner and t.kind == kind]
        return sorted(mine, key=lambda t: t.created, reverse=True)

    def running(self, owner: str, config: EmulatorConfig, pack: str = "video") -> int:
        """Parallel-task slots of one pack type held: submitted or processing tasks, ``n`` per image
        task (KLING_API §6: counted per account and pack type, video and image apart)."""
        now = time.time()
        return sum(
            t.slots
            for t in self.tasks.values()
            if t.owner == owner
            and pack_of(t.kind) == pack
            and t.status(config, now) in ("submitted", "processing")
        )
