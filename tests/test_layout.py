"""The package's shape: one layer per folder, imports only downward, small modules that say their job.

Layers, lowest first (a module imports its own layer or lower ones, never a higher one):

0. ``version_compat``, ``exceptions``, ``config``, ``utils/``: no Kling contract, no hook;
1. ``api/``: Kling's contract (requests, responses, kinds, packs, webhooks);
2. ``hooks/``: KlingHook and its transport (auth, connection, session, retry, caches);
3. ``execution/`` and ``publishing/``: what operators, sensor and triggers share;
4. ``operators/``, ``sensors/``, ``triggers/``, ``links/``: the Airflow adapters;
5. ``get_provider_info`` and ``plugins/`` (the UI plugin): what names or shows them all.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import pkgutil
import warnings
from pathlib import Path

import pytest

import airflow_provider_kling
from airflow_provider_kling.get_provider_info import get_provider_info

PACKAGE = "airflow_provider_kling"
ROOT = Path(airflow_provider_kling.__file__).parent
EMULATOR_ROOT = ROOT.parent / "kling_emulator"
MAX_LINES = 400

RANKS = {
    "_moved": 0,  # the 0.1.0 paths, resolved by name at first use (importlib), not imported here
    "version_compat": 0,
    "exceptions": 0,
    "config": 0,
    "utils": 0,
    "api": 1,
    "hooks": 2,
    "execution": 3,
    "publishing": 3,
    "operators": 4,
    "sensors": 4,
    "triggers": 4,
    "links": 4,
    "plugins": 5,
    "get_provider_info": 5,
}


def modules(root: Path, package: str) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join((package, *parts))
        found[name.removesuffix(".__init__")] = path
    return found


PROVIDER_MODULES = modules(ROOT, PACKAGE)
EMULATOR_MODULES = modules(EMULATOR_ROOT, "kling_emulator")


def rank(module: str) -> int:
    parts = module.split(".")
    return 0 if len(parts) == 1 else RANKS[parts[1]]


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imported(path: Path, *, runtime_only: bool) -> set[str]:
    """Every module of either package that ``path`` imports (also inside functions)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node):
                skipped.update(id(child) for child in ast.walk(node))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from package import module` names a module too
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    known = PROVIDER_MODULES.keys() | EMULATOR_MODULES.keys()
    return {name for name in names if name in known}


def test_the_tree_has_a_folder_per_layer() -> None:
    folders = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    top = {p.stem for p in ROOT.glob("*.py")} | folders
    assert top == {"__init__", *RANKS}, "a new top-level module or folder needs a layer in RANKS"


@pytest.mark.parametrize("module", sorted(PROVIDER_MODULES))
def test_nothing_imports_upward(module: str) -> None:
    upward = {
        other
        for other in imported(PROVIDER_MODULES[module], runtime_only=False)
        if other.startswith(PACKAGE + ".") and rank(other) > rank(module)
    }
    assert not upward, f"{module} (layer {rank(module)}) imports a higher layer: {sorted(upward)}"


def test_no_import_cycle() -> None:
    graph = {
        module: {m for m in imported(path, runtime_only=True) if m != module and m in PROVIDER_MODULES}
        for module, path in PROVIDER_MODULES.items()
    }
    # a subpackage's __init__ is imported with each of its modules: it takes part in cycles too
    # (the root package is imported before anything else, whatever it imports)
    for module in list(graph):
        graph[module] |= {p for p in _parents(module) if p in graph and p != PACKAGE}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("module", sorted(PROVIDER_MODULES | EMULATOR_MODULES))
def test_every_module_is_small_and_says_its_job_in_one_line(module: str) -> None:
    path = (PROVIDER_MODULES | EMULATOR_MODULES)[module]
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_LINES, f"{module}: over {MAX_LINES} lines"
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring, f"{module}: no module docstring"
    first = docstring.splitlines()[0]
    assert first.strip() and len(first) <= 110, f"{module}: the docstring's first line says its job"


def test_the_emulator_and_the_provider_import_nothing_of_each_other() -> None:
    provider_uses = {
        m: sorted(o for o in imported(p, runtime_only=False) if o.startswith("kling_emulator"))
        for m, p in PROVIDER_MODULES.items()
    }
    emulator_uses = {
        m: sorted(o for o in imported(p, runtime_only=False) if o.startswith(PACKAGE))
        for m, p in EMULATOR_MODULES.items()
    }
    assert not {m: v for m, v in provider_uses.items() if v}
    assert not {m: v for m, v in emulator_uses.items() if v}


def _defines(module_name: str, base: type) -> bool:
    module = importlib.import_module(module_name)
    return any(
        issubclass(obj, base) and obj.__module__ == module_name and not obj.__name__.startswith("_")
        for obj in vars(module).values()
        if inspect.isclass(obj)
    )


def test_provider_info_lists_every_hook_operator_sensor_and_trigger_module() -> None:
    from airflow.sdk import BaseHook, BaseOperator
    from airflow.triggers.base import BaseTrigger

    info = get_provider_info()
    listed = {
        module
        for key in ("hooks", "operators", "sensors", "triggers")
        for entry in info[key]
        for module in entry["python-modules"]
    }
    wanted = set()
    for folder, base in (("hooks", BaseHook), ("operators", BaseOperator), ("sensors", BaseOperator)):
        package = importlib.import_module(f"{PACKAGE}.{folder}")
        for found in pkgutil.iter_modules(package.__path__, f"{PACKAGE}.{folder}."):
            # operators.base holds the shared base class: not an operator a DAG uses
            if found.name != f"{PACKAGE}.operators.base" and _defines(found.name, base):
                wanted.add(found.name)
    triggers = importlib.import_module(f"{PACKAGE}.triggers")
    for found in pkgutil.iter_modules(triggers.__path__, f"{PACKAGE}.triggers."):
        if _defines(found.name, BaseTrigger):
            wanted.add(found.name)
    assert wanted, "no hook, operator, sensor or trigger module found"
    assert wanted <= listed, f"missing from get_provider_info(): {sorted(wanted - listed)}"
    assert listed <= set(PROVIDER_MODULES), f"listed but absent: {sorted(listed - set(PROVIDER_MODULES))}"


@pytest.mark.parametrize(
    "classpath",
    [
        "airflow_provider_kling.hooks.kling.KlingHook",
        "airflow_provider_kling.sensors.kling.KlingTaskSensor",
        # stored in the metadata DB with every deferred task: must never move
        "airflow_provider_kling.triggers.kling.KlingTaskTrigger",
        "airflow_provider_kling.triggers.submit.KlingSubmitTrigger",
        "airflow_provider_kling.operators.video_to_audio.VideoToAudioOperator",
        "airflow_provider_kling.operators.video.TextToVideoOperator",
        "airflow_provider_kling.operators.video.ImageToVideoOperator",
        "airflow_provider_kling.operators.video.OmniVideoOperator",
        "airflow_provider_kling.operators.video.MotionControlOperator",
        "airflow_provider_kling.operators.text_to_audio.TextToAudioOperator",
        "airflow_provider_kling.operators.publish.KlingPublishOperator",
    ],
)
def test_public_import_paths_stay(classpath: str) -> None:
    module, _, name = classpath.rpartition(".")
    assert inspect.isclass(getattr(importlib.import_module(module), name))


def test_airflow_config_is_read_in_one_module() -> None:
    """Every ``[kling]`` option (and ``[operators] default_deferrable``) is declared and read in config.py."""
    readers = {
        module
        for module, path in PROVIDER_MODULES.items()
        if "conf"
        in {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
    }
    # version_compat only picks where Airflow keeps `conf`; config.py is the one reader
    assert readers == {f"{PACKAGE}.config", f"{PACKAGE}.version_compat"}, (
        f"Airflow's conf read outside config.py: {sorted(readers)}"
    )


@pytest.mark.parametrize("old", sorted(__import__("airflow_provider_kling._moved", fromlist=["MOVED"]).MOVED))
def test_the_old_flat_module_paths_still_import_with_a_warning(old: str) -> None:
    from airflow_provider_kling._moved import MOVED

    module = importlib.import_module(f"{PACKAGE}.{old}")
    first = importlib.import_module(f"{PACKAGE}.{MOVED[old][0]}")
    exported = getattr(first, "__all__", None) or [
        n for n, v in vars(first).items() if getattr(v, "__module__", "") == first.__name__
    ]
    name = next(n for n in exported if not n.startswith("_"))
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {first.__name__}\.{name}"):
        assert getattr(module, name) is getattr(first, name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_an_old_import_statement_names_the_new_path() -> None:
    with pytest.warns(
        DeprecationWarning, match="models.VideoToAudioRequest moved to airflow_provider_kling.api.audio"
    ):
        from airflow_provider_kling.models import VideoToAudioRequest
    from airflow_provider_kling.api.audio import VideoToAudioRequest as new

    assert VideoToAudioRequest is new


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_a_renamed_hook_keyword_still_works_with_a_warning() -> None:
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.utils.deprecation import renamed_keyword

    @renamed_keyword("kind", "task_kind")
    def probe(task_kind: str) -> str:
        return task_kind

    with pytest.warns(DeprecationWarning, match=r"probe\(kind=...\) is now task_kind=...; kind goes in 1.0"):
        assert probe(kind="text2video") == "text2video"
    with pytest.raises(TypeError, match="got both 'kind' and 'task_kind'"):
        probe(kind="a", task_kind="b")

    @renamed_keyword("kind", "task_kind")
    async def aprobe(task_kind: str) -> str:
        return task_kind

    with pytest.warns(DeprecationWarning, match=r"aprobe\(kind=...\)"):
        assert asyncio.run(aprobe(kind="image2video")) == "image2video"
    for name in ("get_task", "find_task", "list_tasks", "submit_task", "aget_task", "asubmit_task"):
        assert "task_kind" in inspect.signature(getattr(KlingHook, name)).parameters
        assert getattr(KlingHook, name).__wrapped__  # the 0.1.0 keyword `kind` is translated


BEFORE_LAYOUT = json.loads((Path(__file__).parent / "data" / "public_names_before_layout.json").read_text())


@pytest.mark.parametrize("module", sorted(BEFORE_LAYOUT))
def test_every_public_name_of_the_flat_layout_still_imports_from_its_old_path(module: str) -> None:
    """The public names of every module before the layer folders (0.1.0 and after), frozen in tests/data."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module(module)
        missing = [name for name in BEFORE_LAYOUT[module] if not hasattr(old, name)]
    assert not missing, f"{module}: {missing}"
    moved = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert all("moved to airflow_provider_kling." in m and "goes in 1.0" in m for m in moved)


def test_the_tests_mirror_the_package() -> None:
    tests = Path(__file__).parent
    folders = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
    missing = [name for name in folders if not list((tests / name).glob("test_*.py"))]
    assert not missing, f"no tests/<layer> folder with tests for: {missing}"
