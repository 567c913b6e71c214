"""Local sources only under the configured source roots (default: the data dir and the shipped examples)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory import settings as project_settings
from pipeline_factory.boundaries.roots import ROOTS_ENV, confined, source_roots
from pipeline_factory.exceptions import InputRefused


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    return data


def test_the_default_roots_are_the_data_dir_and_the_examples(roots):
    assert source_roots() == [roots.resolve(), (project_settings.PROJECT_ROOT / "examples").resolve()]


def test_a_folder_under_a_root_is_accepted(roots):
    assert confined(str(roots / "inbox"), what="source_path") == (roots / "inbox").resolve()
    assert confined("examples/documents", what="source_path").name == "documents"


@pytest.mark.parametrize(
    "value", ["/etc", "/", "..", "examples/../tests", "~", "/proc/self/environ", "tests/fixtures/documents", "a\x00b"]
)
def test_anything_else_is_refused(roots, value):
    with pytest.raises(InputRefused, match="source_path"):
        confined(value, what="source_path")


def test_a_link_out_of_a_root_is_refused(roots, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (roots / "inbox" / "link").symlink_to(secrets)
    with pytest.raises(InputRefused, match="outside the allowed source roots"):
        confined(str(roots / "inbox" / "link"), what="source_path")


def test_the_deployment_sets_its_own_roots(roots, tmp_path, monkeypatch):
    share = tmp_path / "share"
    share.mkdir()
    monkeypatch.setenv(ROOTS_ENV, str(share))
    assert confined(str(share), what="source_path") == share.resolve()
    with pytest.raises(InputRefused):
        confined(str(roots / "inbox"), what="source_path")  # the data dir is no longer a root


@settings(max_examples=200, deadline=None)
@given(value=st.lists(st.sampled_from(["..", "/", "a", "examples", ".", "~", "etc", "\x00"]), max_size=30).map("".join))
def test_whatever_is_accepted_lies_under_a_root(value):
    allowed = [(project_settings.PROJECT_ROOT / "examples").resolve()]
    try:
        path = confined(value, what="source_path", roots=allowed)
    except InputRefused:
        return
    assert path.is_relative_to(allowed[0])
