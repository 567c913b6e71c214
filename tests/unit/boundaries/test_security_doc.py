"""docs/security.md names, for each boundary, tests that exist: the table cannot drift from the suite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"`((?:unit|integration|e2e)/[\w/]+\.py)((?:::\w+)?)`|`::(\w+)`")


def test_every_test_the_threat_model_names_exists() -> None:
    text = DOC.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert len(rows) >= 12
    for row in rows:
        current: Path | None = None
        found = 0
        for path, name, continued in REFERENCE.findall(row):
            if path:
                current = ROOT / "tests" / path
                assert current.is_file(), path
            test = name.lstrip(":") or continued
            if test:
                assert current is not None, row
                assert re.search(rf"def {test}\(", current.read_text()), f"{current.name}::{test}"
            found += 1
        assert found, f"a boundary without a test: {row[:80]}"
