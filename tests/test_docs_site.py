"""The docs site's how-to pages, checked without Sphinx (scripts/docs.sh builds them in CI).

Every operator, sensor and trigger the provider declares has a how-to page; every sample a built
page includes names a DAG file and markers that exist; PENDING_PAGES (docs/conf.py) lists only
pages that exist and whose markers are not in dags/ yet.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
HOWTO = DOCS / "howto"
INCLUDE = re.compile(
    r"```\{literalinclude\} (?P<path>\S+)\n(?:.*\n)*?:start-after: \"\[START (?P<start>[^\]]+)\]\"\n"
    r":end-before: \"\[END (?P<end>[^\]]+)\]\""
)


def pending_pages() -> dict[str, str]:
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PENDING_PAGES":
            assert node.value is not None
            return ast.literal_eval(node.value)
    raise AssertionError("docs/conf.py has no PENDING_PAGES")


def declared_classes() -> set[str]:
    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_kling.get_provider_info import get_provider_info

    info = get_provider_info()
    names = set()
    for kind in ("operators", "sensors", "triggers"):
        for module_name in (m for entry in info[kind] for m in entry["python-modules"]):
            module = importlib.import_module(module_name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                public = not name.startswith("_") and cls.__module__ == module_name
                if public and issubclass(cls, (BaseOperator, BaseTrigger)):
                    names.add(name)
    return names


def test_every_declared_operator_sensor_and_trigger_has_a_howto_page() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in HOWTO.glob("*.md"))
    documented = set(re.findall(r"\{py:class\}`~[\w.]+\.(\w+)`", pages))
    classes = declared_classes()
    assert {"VideoToAudioOperator", "KlingTaskSensor", "KlingSubmitTrigger"} <= classes
    assert not classes - documented, sorted(classes - documented)


def test_every_built_howto_sample_exists_between_its_markers() -> None:
    pending = {f"{page}.md" for page in pending_pages()}
    checked = 0
    for page in sorted(HOWTO.glob("*.md")):
        if f"howto/{page.name}" in pending:
            continue
        for include in INCLUDE.finditer(page.read_text(encoding="utf-8")):
            assert include["start"] == include["end"], (page.name, include.group(0))
            source = (page.parent / include["path"]).resolve()
            text = source.read_text(encoding="utf-8")
            start, end = f"# [START {include['start']}]", f"# [END {include['end']}]"
            assert text.count(start) == 1 and text.count(end) == 1, (page.name, source, include["start"])
            assert text.index(start) < text.index(end), (page.name, include["start"])
            checked += 1
    assert checked >= 9, checked


def test_pending_pages_exist_and_wait_for_markers_not_yet_in_the_dags() -> None:
    dags = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "dags").glob("*.py"))
    for page, marker in pending_pages().items():
        text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
        assert f"[START {marker}]" in text, (page, marker)
        assert f"[START {marker}]" not in dags, (
            f"{marker} is in dags/ now: delete {page!r} from PENDING_PAGES"
        )
