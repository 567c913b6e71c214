"""Run ids, pipeline names and doc ids never escape their folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.boundaries.names import MAX_COMPONENT, check_doc_id, path_component
from pipeline_factory.exceptions import InputRefused
from pipeline_factory.workspace import run_dir, safe_run_id

# Text that leans towards what an attacker would send: separators, dots, NUL, drive letters.
hostile = st.lists(
    st.one_of(st.sampled_from(["/", "\\", ".", "..", "\x00", ":", "~", "C:", "%2e", " "]), st.characters()),
    max_size=300,
).map("".join)


@pytest.mark.parametrize(
    "run_id",
    ["..", ".", "", "a\x00b", "x" * (MAX_COMPONENT + 1), "\n", "...", "....."],
)
def test_unusable_run_ids_are_refused(run_id):
    with pytest.raises(InputRefused, match="run id"):
        safe_run_id(run_id)


@pytest.mark.parametrize(
    ("run_id", "folder"),
    [
        ("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00_00_00_00_00"),
        ("../../etc", ".._.._etc"),
        ("../..", ".._.."),
        ("/etc/passwd", "_etc_passwd"),
        ("scheduled__x", "scheduled__x"),
    ],
)
def test_run_ids_are_normalised_to_one_folder_name(run_id, folder):
    assert safe_run_id(run_id) == folder


@settings(max_examples=300, deadline=None)
@given(pipeline=hostile, run_id=hostile)
def test_a_run_workspace_never_escapes_its_pipeline_folder(tmp_path_factory, pipeline, run_id):
    data = tmp_path_factory.getbasetemp() / "data"
    try:
        path = run_dir(pipeline, run_id, data_dir=data)
    except InputRefused:
        return
    runs = (data / "runs").resolve()
    resolved = Path(os.path.normpath(path))
    assert resolved.parent.parent == runs  # exactly runs/<pipeline>/<run id>
    assert "\x00" not in str(path)
    assert all(part not in ("..", ".") for part in path.relative_to(data).parts)


@settings(max_examples=300, deadline=None)
@given(value=hostile)
def test_a_path_component_is_one_name_or_refused(value):
    try:
        name = path_component(value, what="name")
    except InputRefused as exc:
        assert exc.what == "name"
        return
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name.strip(".") and len(name) <= MAX_COMPONENT
    assert Path(name).name == name


@pytest.mark.parametrize("doc_id", ["10.1000/xyz123", "PMID:123", "doc-abc", "a b"])
def test_real_doc_ids_pass(doc_id):
    assert check_doc_id(doc_id) == doc_id


@pytest.mark.parametrize(
    "doc_id", ["../../etc/passwd", "/etc/passwd", "a/../../b", "a\x00b", "", "x" * 201, "C:\\Windows", "..\\x"]
)
def test_doc_ids_that_could_escape_are_refused(doc_id):
    with pytest.raises(InputRefused, match="doc id"):
        check_doc_id(doc_id)


@settings(max_examples=300, deadline=None)
@given(value=hostile)
def test_an_accepted_doc_id_never_leads_out_of_a_folder(value):
    try:
        check_doc_id(value)
    except InputRefused:
        return
    root = Path("/srv/ir")
    assert os.path.normpath(root / value.replace("\\", "/")).startswith(str(root))
    assert "\x00" not in value
