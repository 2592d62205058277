"""Sphinx directives that render the provider info (get_provider_info()) as tables, so they cannot drift.

- ``kling-config-table``: every ``[kling]`` option: name, type, default, example, description.
- ``kling-connection-fields``: the connection form's relabelled fields and its extra fields.
- ``kling-provider-modules``: autodoc of every hook, operator, sensor and trigger module declared.
- ``kling-module-table``: every module of the package with the first line of its docstring, by layer.

It also checks ``PENDING_PAGES`` (docs/conf.py): a pending page whose marker now exists in dags/ is
reported as a warning (the build runs with -W), naming the line to delete.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)
DASH = "\u2013"  # an empty cell


def _provider_info() -> dict[str, Any]:
    from airflow_provider_kling.get_provider_info import get_provider_info

    return get_provider_info()


def _cell(text: Any) -> str:
    """One list-table cell: a single line, empty shown as a dash."""
    if text is None or text == "":
        return DASH
    return " ".join(str(text).split())


def _literal(text: Any) -> str:
    return DASH if text is None or text == "" else f"``{_cell(text)}``"


class _TableDirective(SphinxDirective):
    has_content = False

    def rows(self) -> tuple[list[str], list[list[str]]]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        header, rows = self.rows()
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for row in [header, *rows]:
            lines.append(f"   * - {row[0]}")
            lines += [f"     - {cell}" for cell in row[1:]]
        # Parsed as reStructuredText on its own: the page around it may be Markdown (MyST), whose
        # nested parse would not read a list-table. Cells hold only text and ``literals``.
        doctree = publish_doctree(
            "\n".join(lines), settings_overrides={"report_level": 2, "halt_level": 2, "warning_stream": None}
        )
        return list(doctree.children)


class ConfigTable(_TableDirective):
    def rows(self) -> tuple[list[str], list[list[str]]]:
        rows = []
        for section, spec in sorted(_provider_info()["config"].items()):
            for name, option in spec["options"].items():
                rows.append(
                    [
                        f"``[{section}] {name}``",
                        _cell(option.get("type")),
                        _literal(option.get("default")),
                        _literal(option.get("example")),
                        _cell(option.get("description")),
                    ]
                )
        return ["option", "type", "default", "example", "meaning"], rows


class ConnectionFields(_TableDirective):
    def rows(self) -> tuple[list[str], list[list[str]]]:
        [conn_type] = _provider_info()["connection-types"]
        behaviour = conn_type.get("ui-field-behaviour", {})
        rows = [
            [f"``{field}``", _cell(label), "standard field"]
            for field, label in behaviour.get("relabeling", {}).items()
        ]
        for name, spec in conn_type.get("conn-fields", {}).items():
            schema = json.dumps(spec.get("schema", {}), sort_keys=True)
            meaning = f"{_cell(spec.get('description'))} Schema: ``{schema}``"
            rows.append([f"``extra.{name}``", _cell(spec.get("label")), meaning])
        hidden = ", ".join(f"``{f}``" for f in behaviour.get("hidden-fields", []))
        rows.append(["hidden", DASH, f"not shown in the form: {hidden or 'none'}"])
        return ["field", "label in the form", "meaning"], rows


def _declared_modules() -> list[tuple[str, str]]:
    info = _provider_info()
    return [
        (kind, module)
        for kind in ("operators", "sensors", "triggers", "hooks")
        for entry in info.get(kind, [])
        for module in entry["python-modules"]
    ]


class ProviderModules(SphinxDirective):
    """``automodule`` for every module the provider info declares, under a rubric per kind:
    a module added to get_provider_info() is documented without touching the docs."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        kind_seen = ""
        for kind, module in _declared_modules():
            if kind != kind_seen:
                lines += [f".. rubric:: {kind.capitalize()}", ""]
                kind_seen = kind
            lines += [f".. automodule:: {module}", ""]
        container = nodes.container()
        source = StringList(lines, source="get_provider_info()")
        self.state.nested_parse(source, self.content_offset, container)
        return container.children


# The layers of tests/test_layout.py, lowest first: a module imports only its own layer or lower.
LAYERS = {
    "_moved": 0, "version_compat": 0, "exceptions": 0, "config": 0, "utils": 0, "__init__": 0,
    "api": 1, "hooks": 2, "execution": 3, "publishing": 3,
    "operators": 4, "sensors": 4, "triggers": 4, "links": 4, "plugins": 5, "get_provider_info": 5,
}  # fmt: skip


class ModuleTable(_TableDirective):
    def rows(self) -> tuple[list[str], list[list[str]]]:
        package = Path(self.env.srcdir).parent / "airflow_provider_kling"
        rows = []
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(package)
            if relative.name == "__init__.py" and len(relative.parts) > 1:
                continue
            top = relative.parts[0].removesuffix(".py")
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            rows.append((LAYERS[top], str(relative), doc.strip().splitlines()[0] if doc.strip() else ""))
        rows.sort()
        return ["layer", "module", "what it is (its docstring)"], [
            [str(layer), f"``{name}``", _cell(doc)] for layer, name, doc in rows
        ]


def _check_pending(app: Sphinx, config: Any) -> None:
    dags = Path(app.confdir).parent / "dags"
    texts = {path.name: path.read_text(encoding="utf-8") for path in sorted(dags.glob("*.py"))}
    for page, marker in getattr(config, "kling_pending_pages", {}).items():
        found = [name for name, text in texts.items() if f"[START {marker}]" in text]
        if found:
            LOGGER.warning(
                "the marker %s is in dags/%s now: check that docs/%s.md includes that file, then "
                "delete the line %r from PENDING_PAGES in docs/conf.py",
                marker,
                found[0],
                page,
                page,
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("kling_pending_pages", {}, "env")
    app.add_directive("kling-config-table", ConfigTable)
    app.add_directive("kling-connection-fields", ConnectionFields)
    app.add_directive("kling-provider-modules", ProviderModules)
    app.add_directive("kling-module-table", ModuleTable)
    app.connect("config-inited", _check_pending)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
