"""docs/architecture.md stays true: every package folder is described, every path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "pipeline_factory"
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_package_folder_is_described():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    missing = [name for name in folders if f"`{name}/`" not in DOC]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def test_every_named_path_exists():
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.(?:py|html))`", DOC))
    assert named, "the page names files"
    missing = []
    for path in sorted(named):
        candidates = [PACKAGE / path, ROOT / path, *PACKAGE.glob(f"*/{path}")]
        if not any(c.exists() for c in candidates):
            missing.append(path)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_stage_family_has_a_catalog_the_doc_describes():
    from pipeline_factory.stages.registry import BUILTIN_FAMILIES

    for family in BUILTIN_FAMILIES:
        assert (PACKAGE / "stages" / family / "catalog.py").exists()
        assert f"`{family}/`" in DOC
