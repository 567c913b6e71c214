"""Turning pydantic's errors into ``FILE:LINE:COL: path: message`` problems.

Branches on the error ``type``, never on message text.  Union validation adds
member names to ``loc`` (``schedule.str``); those are dropped by walking the
location against the data that was validated, so paths match what the author
wrote.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline_factory.exceptions import SpecProblem
from pipeline_factory.spec.yaml_source import SourceMap

Loc = tuple[str | int, ...]


def dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def model_keys(*models: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for model in models:
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
    return keys


def data_path(data: Any, loc: Loc, error_type: str) -> Loc:
    """The part of ``loc`` that names places in ``data`` (union tags removed)."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif last and error_type in ("missing", "extra_forbidden") and isinstance(current, dict):
            path.append(part)
        # anything else is a union member or validator tag: not a place in the file
    return tuple(path)


def problems_from_validation(
    exc: ValidationError,
    data: Any,
    smap: SourceMap,
    *,
    prefix: Loc = (),
    known_keys: Iterable[str] = (),
) -> list[SpecProblem]:
    """One problem per place, messages of union alternatives joined."""
    by_path: dict[Loc, tuple[str, list[str], str | None]] = {}
    for error in exc.errors(include_url=False):
        error_type = error["type"]
        path = data_path(data, tuple(error["loc"]), error_type)
        full = (*prefix, *path)
        hint = None
        if error_type == "extra_forbidden":
            key = str(path[-1]) if path else ""
            message = f"unknown key {key!r}"
            hint = did_you_mean(key, known_keys)
        elif error_type == "missing":
            message = f"required key {str(path[-1])!r} is missing" if path else "required key is missing"
        elif error_type in ("value_error", "assertion_error"):
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        else:
            message = error["msg"]
            if "input" in error and not isinstance(error["input"], dict | list):
                message += f", got {error['input']!r}"
        entry = by_path.setdefault(full, (error_type, [], hint))
        if message not in entry[1]:
            entry[1].append(message)
    problems = []
    for full, (error_type, messages, hint) in by_path.items():
        lookup_path = full[:-1] if error_type == "missing" else full
        pos = smap.lookup(lookup_path)
        problems.append(
            SpecProblem(pos.file, pos.line, pos.column, dotted(full), " or ".join(messages), error_type, hint)
        )
    return problems
