"""utils/rendered.py: a dict or list that a template rendered to text, read back."""

from __future__ import annotations

import pytest

from airflow_provider_kling.utils.rendered import parse_rendered


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),  # JSON
        ("{'a': 1, 'b': [True, None]}", {"a": 1, "b": [True, None]}),  # what Jinja makes of a dict
        ("[{'task_id': 'x'}]", [{"task_id": "x"}]),
        ("3.5", 3.5),
    ],
)
def test_json_and_python_literals_read_back(text: str, value: object) -> None:
    assert parse_rendered(text) == value


@pytest.mark.parametrize("text", ["{seed: }", "__import__('os')", "", "[" * 100_000])
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not JSON and not a Python literal"):
        parse_rendered(text)
