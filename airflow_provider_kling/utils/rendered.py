"""Reading back a dict or list that a Jinja template rendered to text: JSON, or the Python repr."""

from __future__ import annotations

import ast
import json
from typing import Any


def parse_rendered(text: str) -> Any:
    """JSON, else a Python literal (what Jinja makes of a dict); ``ValueError`` when it is neither."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("not JSON and not a Python literal") from None
