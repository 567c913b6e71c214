"""The package is typed for its users (PEP 561) and the type checks keep it so."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_package_ships_its_py_typed_marker() -> None:
    assert resources.files("pipeline_factory").joinpath("py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["pipeline_factory"]


def test_spec_and_factory_are_checked_with_every_strict_flag() -> None:
    """``strict`` cannot be set per module, so each of its flags is set for spec/ and factory/."""
    mypy = _pyproject()["tool"]["mypy"]
    strict = next(o for o in mypy["overrides"] if "pipeline_factory.spec.*" in o["module"])
    assert "pipeline_factory.factory.*" in strict["module"]
    for flag in ("disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
                 "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_decorators",
                 "warn_return_any", "no_implicit_reexport", "extra_checks"):
        assert strict.get(flag) is True, flag
    assert mypy["check_untyped_defs"] is True and mypy["warn_unused_ignores"] is True
    assert {"include/pipeline_factory", "dags", "plugins"} <= set(mypy["files"])


def test_make_test_runs_lint_and_type_checks_before_pytest() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "check" in test_rule.split(":", 1)[1].split()
    assert "check: lint typecheck" in makefile
