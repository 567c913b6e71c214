"""The Pipelines page is package data (a template file), served as one self-contained document."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from pipeline_factory.ui.app import page_html

ROOT = Path(__file__).resolve().parents[3]


def test_the_page_is_a_whole_self_contained_document():
    html = page_html()
    assert html.lstrip().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "data-ready" in html and "textContent" in html
    assert "innerHTML" not in html, "values are never parsed as HTML"
    assert "<script src" not in html and "<link" not in html and "https://" not in html, "no CDN"


def test_the_template_ships_in_the_wheel():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["pipeline_factory"]
    assert any(fnmatch("ui/templates/pipelines.html", p.removeprefix("**/")) or fnmatch("x.html", p.removeprefix("**/"))
               for p in patterns)
