"""``{{ params.NAME }}`` references inside a stage's ``with:`` block.

Only whole-string references are supported: the value is replaced by the run
param itself (keeping its type), which is what lets the stage's parameter
model check it.  Anything fancier belongs in stage code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

REFERENCE = re.compile(r"^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def find_references(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield ``(path, param name)`` for every reference in ``value``."""
    if isinstance(value, str):
        match = REFERENCE.match(value.strip())
        if match:
            yield path, match.group(1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_references(item, (*path, index))


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced by ``params[name]`` (KeyError if absent)."""
    if isinstance(value, str):
        match = REFERENCE.match(value.strip())
        return params[match.group(1)] if match else value
    if isinstance(value, Mapping):
        return {key: substitute(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, params) for item in value]
    return value
