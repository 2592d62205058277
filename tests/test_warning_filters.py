"""The suite's warning filters (pyproject ``filterwarnings``): deprecations about our code fail a test.

Python attributes a warning to the module of the frame its ``stacklevel`` points at. Airflow
warns from its own modules but with a stacklevel that points at the caller, so a deprecation of
an Airflow API we call is attributed to *our* module, and so is one raised by our own code. Those
must be errors; deprecations inside third-party code (nothing we can change) stay ignored.
"""

from __future__ import annotations

import warnings

import pytest

# Imported here, at collection, on purpose: on its first import Airflow prepends a "default" filter
# for modules matching "airflow" (which airflow_provider_kling does) and replaces showwarning; done
# inside a test, that would override this suite's filters for the rest of that one test.
from airflow.exceptions import AirflowProviderDeprecationWarning, RemovedInAirflow4Warning
from airflow.utils.deprecation_tools import DeprecatedImportWarning

# Modules whose deprecations are ours to fix: the provider, the emulator, the DAG files (as
# packages, or as Airflow's DagBag names the files it loads), the tests and the benchmarks.
OURS = [
    "airflow_provider_kling",
    "airflow_provider_kling.operators.base",
    "kling_emulator.app",
    "dags.kling_content_pipeline",
    "unusual_prefix_0a1b2c3d4e5f_kling_prompt_fanout",
    "tests.conftest",
    "benchmarks.fault_run",
]
THEIRS = ["airflow.models.dag", "airflow.sdk.bases.operator", "sqlalchemy.orm", "pydantic.main", "testsuite"]


def warn_from(module: str, category: type[Warning] = DeprecationWarning, stacklevel: int = 1) -> None:
    """Issue a warning from code whose ``__name__`` is ``module`` (as if that module's code ran)."""
    code = compile(
        "import warnings\n"
        "def deprecated_api():\n"
        "    warnings.warn('gone in the next major version', CATEGORY, stacklevel=STACKLEVEL)\n"
        "deprecated_api()\n",
        f"<{module}>",
        "exec",
    )
    exec(code, {"__name__": module, "CATEGORY": category, "STACKLEVEL": stacklevel})


@pytest.mark.parametrize("module", OURS)
def test_a_deprecation_raised_in_our_code_fails(module: str) -> None:
    with pytest.raises(DeprecationWarning, match="gone in the next major version"):
        warn_from(module)


@pytest.mark.parametrize("module", THEIRS)
def test_a_deprecation_inside_third_party_code_is_ignored(module: str) -> None:
    with warnings.catch_warnings(record=True) as seen:
        # record=True keeps the active filters: only "ignore" leaves nothing recorded.
        warn_from(module)
    assert seen == []


def test_an_airflow_deprecation_pointing_at_our_call_site_fails() -> None:
    """Airflow warns with stacklevel=2: the warning is attributed to the caller, i.e. our module."""
    third_party = compile(
        "import warnings\n"
        "def old_api():\n"
        "    warnings.warn('old_api is deprecated', DeprecationWarning, stacklevel=2)\n",
        "<airflow.something>",
        "exec",
    )
    airflow_module: dict[str, object] = {"__name__": "airflow.something"}
    exec(third_party, airflow_module)
    our_call = compile("old_api()\n", "<airflow_provider_kling.hooks.kling>", "exec")
    our_module = {"__name__": "airflow_provider_kling.hooks.kling", "old_api": airflow_module["old_api"]}
    with pytest.raises(DeprecationWarning, match="old_api is deprecated"):
        exec(our_call, our_module)


def test_airflow_removal_warnings_about_our_code_fail() -> None:
    # DeprecatedImportWarning (an import path Airflow moved) is a FutureWarning, not a DeprecationWarning.
    categories = (
        RemovedInAirflow4Warning,
        AirflowProviderDeprecationWarning,
        DeprecatedImportWarning,
        PendingDeprecationWarning,
    )
    for category in categories:
        with pytest.raises(category):
            warn_from("airflow_provider_kling.operators.base", category)


def test_other_warnings_of_our_code_are_not_turned_into_errors() -> None:
    with pytest.warns(UserWarning):
        warn_from("airflow_provider_kling.hooks.kling", UserWarning)


def test_errors_do_not_depend_on_who_shows_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's logging setup replaces ``warnings.showwarning`` (a shown warning then goes to a
    log, past pytest's summary); an error never goes through it, so it still fails the test."""
    shown: list[object] = []
    monkeypatch.setattr(warnings, "showwarning", lambda *args, **kwargs: shown.append(args))
    with pytest.raises(DeprecationWarning):
        warn_from("airflow_provider_kling.triggers.kling")
    assert shown == []
