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
    "capacity": ("execution.capacity",),
    "submitting": ("execution.idempotency",),
    "waiting": ("execution.polling", "execution.events", "execution.poll_errors", "execution.progress"),
    "airflow_compat": ("version_compat",),
}


class _MovedModule(types.ModuleType):
    """Looks each name up in the new modules on first use, warning once per name."""

    def __init__(self, name: str, targets: Sequence[str]) -> None:
        super().__init__(name, f"Moved: see {', '.join(targets)}")
        self._targets = tuple(targets)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                warnings.warn(
                    f"{self.__name__}.{attr} moved to {target}.{attr}; the old path goes in 1.0",
                    DeprecationWarning,
                    stacklevel=2,
                )
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
