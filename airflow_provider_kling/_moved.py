"""Import paths of 0.1.0 that moved into the layer folders: still importable, with a DeprecationWarning.

0.1.0 kept its modules flat at the package root (``airflow_provider_kling.models``,
``.webhooks``, ...). They now live in ``api/``, ``hooks/`` and ``execution/``; the version
policy (CHANGELOG.md) keeps a deprecated name working for at least one MINOR release, so an old
``from airflow_provider_kling.models import VideoToAudioRequest`` still works and says where the
name lives now. One table, one meta-path finder, no module per old path; removed in 1.0.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

PACKAGE = "airflow_provider_kling"

# old module (under the package) -> the modules its names live in now, searched in order
MOVED: dict[str, tuple[str, ...]] = {
    "models": ("api.requests", "api.audio", "api.tasks", "api.video"),
    "video_requests": ("api.video",),
    "task_kinds": ("api.kinds",),
    "resource_packs": ("api.account",),
    "webhooks": ("api.webhooks",),
    "auth": ("hooks.auth",),
    "connection_extra": ("hooks.connection",),
    "host_cache": ("hooks.host_cache",),
    "single_flight": ("hooks.single_flight",),
    "capacity": ("execution.capacity", "execution.rate_limits"),
    "submitting": ("execution.idempotency",),
    "waiting": ("execution.polling", "execution.events", "execution.poll_errors", "execution.progress"),
    "airflow_compat": ("version_compat",),
}


# names that moved out of a module that still exists, or changed name: old -> "module:attribute"
RENAMED: dict[str, dict[str, str]] = {
    "waiting": {
        "EVENT_SUCCESS": "execution.events:WaitStatus.SUCCESS",
        "EVENT_FAILED": "execution.events:WaitStatus.FAILED",
        "EVENT_TIMEOUT": "execution.events:WaitStatus.TIMEOUT",
        "EVENT_ERROR": "execution.events:WaitStatus.ERROR",
    },
    "capacity": {"EVENT_CAPACITY_TIMEOUT": "execution.events:WaitStatus.CAPACITY_TIMEOUT"},
    "triggers.submit": {
        "EVENT_SUBMITTED": "execution.events:WaitStatus.SUBMITTED",
        "SUBMITTED_ON_TRIGGERER": "execution.events:SUBMITTED_ON_TRIGGERER_KEY",
    },
    "hooks.kling": {
        "shared_session_scope": "hooks.transport:shared_session_scope",
        "DEFAULT_RESOURCE_PACKS_CACHE_SECONDS": "config:DEFAULT_RESOURCE_PACKS_CACHE_SECONDS",
        "resource_packs_cache_dir": "config:resource_packs_cache_dir",
        "resource_packs_cache_seconds": "config:resource_packs_cache_seconds",
        "ACCOUNT_COSTS_PATH": "hooks.packs_cache:ACCOUNT_COSTS_PATH",
        "RESOURCE_PACKS_LOOKBACK_MS": "hooks.packs_cache:RESOURCE_PACKS_LOOKBACK_MS",
    },
    "operators.base": {
        "budget_floor": "config:budget_floor",
        "derive_external_task_id": "execution.idempotency:derive_external_task_id",
        "describe_cost": "execution.reporting:describe_cost",
    },
    "publishing": {
        **{
            name: f"publishing.download:{name}"
            for name in (
                "COPY_CHUNK",
                "DownloadLimits",
                "Downloader",
                "PublishError",
                "PublishedFile",
                "atomic_writer",
                "check_url",
                "copy_file",
                "file_size",
                "is_local",
                "local_file",
                "log",
                "redact",
                "safe_name",
            )
        },
        **{name: f"publishing.media:{name}" for name in ("BED_MODES", "BED_RATE", "mux", "mux_music_bed")},
    },
}


def _resolve(where: str) -> Any:
    module_name, _, path = where.partition(":")
    value: Any = importlib.import_module(f"{PACKAGE}.{module_name}")
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in 1.0", DeprecationWarning, stacklevel=3)


def module_getattr(module: str) -> Any:
    """A module ``__getattr__`` for names that left ``module`` (a key of ``RENAMED``)."""
    table = RENAMED[module]

    def __getattr__(attr: str) -> Any:
        if attr not in table:
            raise AttributeError(f"module {PACKAGE}.{module!r} has no attribute {attr!r}")
        _warn(f"{PACKAGE}.{module}.{attr}", f"{PACKAGE}.{table[attr].replace(':', '.')}")
        return _resolve(table[attr])

    return __getattr__


class _MovedModule(types.ModuleType):
    """Looks each name up in the new modules on first use, warning once per name."""

    def __init__(self, name: str, targets: Sequence[str]) -> None:
        super().__init__(name, f"Moved: see {', '.join(targets)}")
        self._targets = tuple(targets)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        renamed = RENAMED.get(self.__name__.removeprefix(PACKAGE + "."), {}).get(attr)
        if renamed is not None:
            _warn(f"{self.__name__}.{attr}", f"{PACKAGE}.{renamed.replace(':', '.')}")
            return _resolve(renamed)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                _warn(f"{self.__name__}.{attr}", f"{target}.{attr}")
                value = getattr(module, attr)
                setattr(self, attr, value)
                return value
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        old = fullname.removeprefix(PACKAGE + ".")
        if old == fullname or old not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        old = spec.name.removeprefix(PACKAGE + ".")
        return _MovedModule(spec.name, [f"{PACKAGE}.{new}" for new in MOVED[old]])

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install() -> None:
    """Make the old paths importable (idempotent)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
