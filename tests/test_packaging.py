"""The built distributions, installed the way users get them: a wheel in a fresh venv, no source tree.

Needs ``build`` and ``uv`` (``bash scripts/test_extras.sh packaging`` installs them in ``.venv-s3``);
the default suite deselects the ``packaging`` marker.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import airflow_provider_kling
from tests.conftest import REPO, conn_json

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

DIST = "airflow-provider-kling"
PACKAGE = "airflow_provider_kling"
VERSION = airflow_provider_kling.__version__
UV = Path(sys.executable).with_name("uv")


def package_files() -> set[str]:
    """The files of both packages (provider and emulator) in the source tree, as wheel paths."""
    return {
        str(p.relative_to(REPO))
        for root in (REPO / PACKAGE, REPO / "kling_emulator")
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".typed")
    }


def run(cmd: list[str], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    tail = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{tail}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``python -m build``: the sdist, then the wheel built from that sdist (so a rebuild works)."""
    out = tmp_path_factory.mktemp("dist")
    # A copy of the tracked sources: the build writes egg-info next to them, and nothing stray
    # (a venv, caches, artifacts) can leak into the sdist.
    tracked = run(["git", "ls-files", "-z"], cwd=REPO, timeout=30).stdout.split("\0")
    source = tmp_path_factory.mktemp("source")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    env = {**os.environ, "PATH": f"{UV.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    build = [sys.executable, "-m", "build", "--installer", "uv", "--outdir", str(out), str(source)]
    run(build, timeout=600, env=env)
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    sizes = {p.name: p.stat().st_size for p in (sdist, wheel)}
    print(f"\nbuilt {sizes}")
    return {"sdist": sdist, "wheel": wheel}


def test_wheel_is_typed_licensed_and_classified(dists: dict[str, Path]) -> None:
    wheel = dists["wheel"]
    assert wheel.name == f"{PACKAGE}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{PACKAGE}-{VERSION}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert f"{PACKAGE}/py.typed" in names
    assert package_files() <= names  # every module, the emulator included
    assert not [n for n in names if n.startswith(("tests/", "dags/", "benchmarks/"))]
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    for expected in (
        "Framework :: Apache Airflow",
        "Framework :: Apache Airflow :: Provider",
        "Typing :: Typed",
        *(f"Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12, 13)),
    ):
        assert expected in classifiers
    assert {"airflow-provider", "kling"} <= set(metadata["Keywords"].split(","))
    assert "apache_airflow_provider" in entry_points and "kling-emulator" in entry_points
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("apache-airflow-providers-amazon[s3fs]") for r in requires)


def test_sdist_holds_what_a_rebuild_needs(dists: dict[str, Path]) -> None:
    sdist = dists["sdist"]
    top = f"{PACKAGE}-{VERSION}"
    assert sdist.name == f"{top}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {n.removeprefix(f"{top}/") for n in archive.getnames()}
        license_file = archive.extractfile(f"{top}/LICENSE")
        assert license_file is not None and b"Apache License" in license_file.read()
    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "PKG-INFO"} <= names
    # The test suite comes whole (conftest, fixtures, the DAGs it runs), not setuptools' test*.py pick.
    assert {"tests/conftest.py", "tests/fixtures/v2a-submit-ok.json", "dags/kling_video_to_audio.py"} <= names
    assert package_files() <= names
    assert not [n for n in names if n.startswith((".venv", ".git/", "artifacts"))]
    # `python -m build` made the wheel from this sdist, unpacked: the fixture's wheel is the rebuild.
    assert dists["wheel"].exists()


@pytest.fixture(scope="module")
def wheel_venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and its media extra) installed: no editable install, no source tree."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([str(UV), "venv", "-q", "--python", base, str(venv)], timeout=120)
    wheel = dists["wheel"]
    install = [str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), f"{wheel}[media]"]
    run(install, timeout=600)
    return venv


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment less anything pointing at the source tree or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("AIRFLOW_CONN_KLING_DEFAULT", None)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__KLING__POLL_INTERVAL="0.2",
        **extra,
    )
    return env


def test_installed_wheel_exposes_the_provider_and_the_emulator(wheel_venv: Path, tmp_path: Path) -> None:
    python = wheel_venv / "bin" / "python"
    probe = (
        "import json, importlib.metadata as m, airflow_provider_kling as k\n"
        "from airflow_provider_kling.get_provider_info import get_provider_info\n"
        "eps = m.entry_points(group='apache_airflow_provider')\n"
        "[ep] = [e for e in eps if e.dist.name == 'airflow-provider-kling']\n"
        "print(json.dumps({'file': k.__file__, 'version': m.version('airflow-provider-kling'),\n"
        "  'loads': ep.load() is get_provider_info, 'info_version': ep.load()()['versions'][0]}))\n"
    )
    found = run([str(python), "-c", probe], cwd=tmp_path, env=clean_env(tmp_path), timeout=120)
    out = json.loads(found.stdout)
    assert Path(out["file"]).is_relative_to(wheel_venv), "imported from the source tree, not the wheel"
    assert out["loads"] and out["version"] == out["info_version"] == VERSION
    help_text = run([str(wheel_venv / "bin" / "kling-emulator"), "--help"], cwd=tmp_path, timeout=60).stdout
    assert help_text.startswith("usage: kling-emulator") and "--fault-1302" in help_text


@pytest.fixture
def wheel_emulator(wheel_venv: Path, tmp_path: Path) -> Iterator[str]:
    """``kling-emulator`` from the wheel's venv on a free loopback port; stopped by its process group."""
    port_file = tmp_path / "emulator.port"
    process = subprocess.Popen(
        [
            *(str(wheel_venv / "bin" / "kling-emulator"), "--port", "0", "--port-file", str(port_file)),
            *("--submitted-seconds", "0.1", "--processing-seconds", "0.4"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text()):
            assert process.poll() is None, "kling-emulator exited"
            assert time.monotonic() < deadline, "kling-emulator did not start within 60 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_example_dag_runs_from_the_installed_wheel(
    wheel_venv: Path, wheel_emulator: str, tmp_path: Path
) -> None:
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "kling_video_to_audio.py", home / "dags")
    env = clean_env(home, AIRFLOW_CONN_KLING_DEFAULT=conn_json(wheel_emulator))
    run([str(wheel_venv / "bin" / "airflow"), "db", "migrate"], cwd=tmp_path, env=env, timeout=300)
    script = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(home / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "run = bag.dags['kling_video_to_audio'].test()\n"
        "print('DAG RUN STATE', run.state)\n"
    )
    out = run([str(wheel_venv / "bin" / "python"), "-c", script], cwd=tmp_path, env=env, timeout=300).stdout
    assert "DAG RUN STATE success" in out
    # The report task printed the audio URLs the emulator (from the wheel) served.
    assert f"KLING AUDIO: {wheel_emulator}/" in out
