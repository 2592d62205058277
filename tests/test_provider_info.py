"""The provider metadata Airflow discovers: valid, consistent with the code, and what the UI form gets."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import distribution, entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_kling.get_provider_info import get_provider_info

DIST = "airflow-provider-kling"
STANDARD_FIELDS = {"host", "port", "login", "password", "schema", "extra", "description"}


def kling_connection_type() -> dict:
    (conn_type,) = get_provider_info()["connection-types"]
    return conn_type


def test_provider_info_is_valid_for_airflow_and_matches_the_distribution() -> None:
    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    # Discovery refuses a provider whose package-name differs from the installed distribution.
    assert info["package-name"] == distribution(DIST).metadata["Name"] == DIST
    assert info["versions"][0] == distribution(DIST).version  # the Providers page shows this one
    (entry_point,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == DIST
    ]
    assert entry_point.load() is get_provider_info


def test_every_listed_module_imports() -> None:
    info = get_provider_info()
    for section in ("operators", "sensors", "hooks", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_connection_type_matches_the_hook_and_names_real_fields() -> None:
    conn_type = kling_connection_type()
    module, _, name = conn_type["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert hook.conn_type == conn_type["connection-type"] == "kling"
    assert hook.hook_name == conn_type["hook-name"]
    behaviour = conn_type["ui-field-behaviour"]
    hidden = set(behaviour["hidden-fields"])
    assert hidden <= STANDARD_FIELDS
    assert set(behaviour["relabeling"]) <= STANDARD_FIELDS - hidden
    assert set(behaviour["placeholders"]) <= STANDARD_FIELDS - hidden
    assert behaviour["relabeling"] == {
        "host": "Base URL",
        "login": "Access key (legacy JWT)",
        "password": "API key (or legacy secret key)",
    }
    # The API key is the first mode: its field says so, and the access key is marked legacy.
    assert behaviour["placeholders"]["password"].startswith("your API key")
    assert behaviour["placeholders"]["login"].startswith("leave empty for an API key")
    assert "https://api-beijing.klingai.com" in behaviour["placeholders"]["host"]
    # Kept visible on purpose: the Airflow 3.3.2 row Test button fails for a connection without a port.
    assert "port" not in hidden


def test_airflow_serves_the_kling_form_to_the_ui() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers[DIST]
    assert provider.data["description"].startswith("Kling AI generation")
    # What GET /ui/connections/hook_meta returns, i.e. what the React form is built from.
    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "kling"]
    assert meta.hook_class_name == kling_connection_type()["hook-class-name"]
    fields = meta.standard_fields
    assert fields is not None
    assert fields.url_schema is not None and fields.url_schema.hidden
    placeholders = kling_connection_type()["ui-field-behaviour"]["placeholders"]
    relabel = kling_connection_type()["ui-field-behaviour"]["relabeling"]
    for name, title in relabel.items():
        field = getattr(fields, name)
        assert (field.hidden, field.title, field.placeholder) == (False, title, placeholders[name])
    assert fields.port is not None and not fields.port.hidden
