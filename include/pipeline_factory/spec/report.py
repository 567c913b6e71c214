"""Problems printed for people (with the source line and a caret), for programs (JSON) and for CI (GitHub).

The text form follows compilers: ``FILE:LINE:COL: field: message``, then the
offending line and a caret under the column, so an author sees the mistake
without opening the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from pipeline_factory.exceptions import SpecProblem

FORMATS = ("text", "json", "github")


def source_line(file: str, line: int) -> str | None:
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None


def with_caret(problem: SpecProblem) -> str:
    """The problem, then the source line it points at and a caret under its column."""
    text = problem.format()
    line = source_line(problem.file, problem.line)
    if line is None or not line.strip():
        return text
    gutter = f"{problem.line:>5} | "
    shown = line.expandtabs(1)
    caret = " " * (len(gutter) - 2) + "| " + " " * max(0, min(problem.column - 1, len(shown))) + "^"
    return f"{text}\n{gutter}{shown}\n{caret}"


def _github_escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github_annotation(problem: SpecProblem) -> str:
    """A GitHub Actions workflow command: CI shows the problem on the line of the file."""
    title = _github_escape(problem.path or "spec", prop=True)
    message = problem.message + (f" ({problem.hint})" if problem.hint else "")
    return (f"::error file={_github_escape(problem.file, prop=True)},line={problem.line},col={problem.column},"
            f"title={title}::{_github_escape(message)}")


def format_problems(problems: Iterable[SpecProblem], fmt: str) -> str:
    problems = list(problems)
    if fmt == "json":
        return json.dumps([asdict(p) for p in problems], indent=2)
    if fmt == "github":
        return "\n".join(github_annotation(p) for p in problems)
    return "\n".join(with_caret(p) for p in problems)
