"""No input takes the other DAGs down: hostile bytes become positioned problems of their own file.

Each class of input that used to escape the loader as a plain exception (or
was silently accepted) is covered by examples, and two hypothesis properties
check the rule itself on random bytes and random YAML: loading never raises,
and every problem names the file, a line and a column inside it.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_factory.spec import yaml_source
from pipeline_factory.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[3]
STAGES = b"stages:\n  - name: a\n    type: echo\n"
LAUGHS = b"name: bomb\n" + b"".join(
    b"l%d: &l%d [%s]\n" % (i, i, b",".join([b"*l%d" % (i - 1)] * 9) if i else b"x") for i in range(9)
) + STAGES

#: bytes -> (line, column or None, path (a prefix where it ends with "." or is "l"), type)
CASES: dict[str, tuple[bytes, int, int | None, str, str]] = {
    "latin1": ("name: caf\xe9\n".encode("latin-1") + STAGES, 1, 10, "", "encoding"),
    "latin1_later_line": (b"name: x\ndescription: \xfcber\n" + STAGES, 2, 14, "", "encoding"),
    "utf16_bom": ("name: x\nstages: []\n".encode("utf-16"), 1, 1, "", "encoding"),
    "utf32_bom": ("name: x\n".encode("utf-32"), 1, 1, "", "encoding"),
    "nul_byte": (b"name: x\x00y\n" + STAGES, 1, 8, "", "encoding"),
    "bell_character": (b"name: x\n" + STAGES + b"    description: \x07\n", 5, 18, "", "encoding"),
    "impossible_date": (b"name: x\nstart_date: 2026-02-30\n" + STAGES, 2, 13, "start_date", "yaml_value"),
    "offset_out_of_range": (b"name: x\nstart_date: 2026-01-01T10:00:00+25:00\n" + STAGES, 2, 13, "start_date",
                            "yaml_value"),
    "explicit_int_tag": (b"name: x\nmax_active_runs: !!int abc\n" + STAGES, 2, 18, "max_active_runs", "yaml_value"),
    "explicit_float_tag": (b"name: x\n" + STAGES + b"    timeout: !!float soon\n", 5, 14, "stages.0.timeout",
                           "yaml_value"),
    "explicit_bool_tag": (b"name: x\ncatchup: !!bool maybe\n" + STAGES, 2, 10, "catchup", "yaml_value"),
    "explicit_timestamp_tag": (b"name: x\nstart_date: !!timestamp later\n" + STAGES, 2, 13, "start_date",
                               "yaml_value"),
    "binary_tag": (b"name: !!binary eAo=\n" + STAGES, 1, 7, "name", "yaml_tag"),
    "python_tag": (b"name: !!python/name:os.system x\n" + STAGES, 1, 7, "name", "yaml_tag"),
    "local_tag_on_scalar": (b"name: !env HOME\n" + STAGES, 1, 7, "name", "yaml_tag"),
    "local_tag_on_sequence": (b"name: x\ntags: !upper [a]\n" + STAGES, 2, 7, "tags", "yaml_tag"),
    "set_tag_on_mapping": (b"name: x\ntags: !!set {a, b}\n" + STAGES, 2, 7, "tags", "yaml_tag"),
    "omap_tag_on_sequence": (b"name: x\nparams: !!omap [{a: {type: string}}]\n" + STAGES, 2, 9, "params",
                             "yaml_tag"),
    "tag_on_stage_mapping": (b"name: x\nstages:\n  - !stage {name: a, type: echo}\n", 3, 5, "stages.0", "yaml_tag"),
    "deep_flow_nesting": (b"name: x\ndescription: " + b"[" * 5000 + b"]" * 5000 + b"\n" + STAGES, 2, None, "",
                          "yaml_too_deep"),
    "deep_block_nesting": (b"name: x\nparams:\n" + b"".join(b"  " * (i + 1) + b"k:\n" for i in range(200))
                           + b"  " * 201 + b"v\n" + STAGES, yaml_source.MAX_DEPTH + 2, None, "", "yaml_too_deep"),
    "self_referencing_alias": (b"name: x\ntags: &t [*t]\n" + STAGES, 2, None, "tags.0.", "yaml_too_deep"),
    "alias_expansion": (LAUGHS, 2, None, "l", "yaml_too_large"),
    "too_many_values": (b"name: x\ntags: [" + b",".join([b"t"] * (yaml_source.MAX_NODES + 1)) + b"]\n" + STAGES,
                        2, None, "", "yaml_too_large"),
    "complex_key": (b"name: x\n? [a, b]\n: c\n" + STAGES, 2, 3, "", "yaml_complex_key"),
    "merge_key": (b"name: x\nbase: &b {owner: me}\nmore:\n  <<: *b\n" + STAGES, 4, 3, "more", "yaml_merge_key"),
    "undefined_alias": (b"name: *nothing\n" + STAGES, 1, 7, "", "yaml_syntax"),
    "two_documents": (b"name: x\n" + STAGES + b"---\nname: y\n", 5, 1, "", "yaml_syntax"),
    "too_large": (b"name: x\n" + STAGES + b"#" * yaml_source.MAX_BYTES, 1, 1, "", "file_too_large"),
}


def _validate(config: Path, data: bytes, name: str = "hostile.yaml"):
    path = config / "pipelines" / name
    path.write_bytes(data)
    return path, load_specs(config_dir=config)


@pytest.mark.parametrize(("data", "line", "column", "path", "error_type"), CASES.values(), ids=CASES.keys())
def test_hostile_file_is_one_positioned_problem_and_hides_nothing(config_copy: Path, data, line, column, path,
                                                                  error_type):
    shipped = {p.stem for p in (ROOT / "config" / "pipelines").glob("*.yaml")} - {"defaults"}
    _, specs = _validate(config_copy, data)
    mine = [p for p in specs.problems if p.file.endswith("hostile.yaml")]
    [problem] = mine
    assert problem.type == error_type, mine
    assert problem.path.startswith(path) if path.endswith(".") or path == "l" else problem.path == path
    assert problem.line == line
    if column is not None:
        assert problem.column == column
    assert set(specs.specs) == shipped
    assert not [p for p in specs.problems if not p.file.endswith("hostile.yaml")]


def test_caps_are_named_in_the_message(config_copy: Path):
    messages = {case: _validate(config_copy, CASES[case][0])[1].problems[0].message
                for case in ("deep_flow_nesting", "alias_expansion", "too_large")}
    assert str(yaml_source.MAX_DEPTH) in messages["deep_flow_nesting"]
    assert str(yaml_source.MAX_NODES) in messages["alias_expansion"]
    assert str(yaml_source.MAX_BYTES) in messages["too_large"]


def test_a_utf8_bom_is_allowed(config_copy: Path):
    _, specs = _validate(config_copy, b"\xef\xbb\xbfname: with_bom\n" + STAGES)
    assert "with_bom" in specs.specs and not specs.problems


def test_an_unreadable_spec_is_a_problem_of_that_file(config_copy: Path):
    (config_copy / "pipelines" / "folder.yaml").mkdir()
    specs = load_specs(config_dir=config_copy)
    [problem] = specs.problems
    assert (problem.type, problem.line, problem.column) == ("file_unreadable", 1, 1)
    assert problem.file.endswith("folder.yaml")
    assert "example_hello" in specs.specs


def test_a_checker_bug_is_a_problem_of_that_file(config_copy: Path, monkeypatch, capfd):
    """The last line of defence: an unexpected exception while checking one file stays with that file."""
    from pipeline_factory.spec import loader

    real = loader.check_pipeline

    def flaky(spec, *args, **kwargs):
        if spec.name == "example_hello":
            raise RuntimeError("boom")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(loader, "check_pipeline", flaky)
    specs = load_specs(config_dir=config_copy)
    [problem] = specs.problems
    assert problem.file.endswith("example_hello.yaml") and problem.type == "internal_error"
    assert "docs_auto" in specs.specs
    from pipeline_factory.cli import main

    assert main(["validate"]) == 1
    out, err = capfd.readouterr()
    assert "example_hello.yaml:1:1: <root>: the spec could not be checked: RuntimeError: boom" in out
    assert "Traceback" not in out + err


def test_validate_prints_positions_and_no_traceback(config_copy: Path, capsys):
    from pipeline_factory.cli import main

    for case in CASES:
        (config_copy / "pipelines" / f"{case}.yaml").write_bytes(CASES[case][0])
    assert main(["validate"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = [line for line in out.splitlines() if not line.startswith(" ")]  # not the source snippets
    assert len(lines) == len(CASES)
    for line in lines:
        file, row, col, _ = line.split(":", 3)
        assert Path(file).stem in CASES and int(row) >= 1 and int(col) >= 1


def test_render_all_keeps_every_shipped_dag_beside_hostile_files(config_copy: Path):
    from pipeline_factory.exceptions import SpecError
    from pipeline_factory.factory import dagfile

    for case in CASES:
        (config_copy / "pipelines" / f"{case}.yaml").write_bytes(CASES[case][0])
    rendered = dagfile.render_all(auto_register=False)
    shipped = {p.stem for p in (ROOT / "config" / "pipelines").glob("*.yaml")} - {"defaults"}
    assert set(rendered.dags) == shipped
    with pytest.raises(SpecError) as raised:
        dagfile.raise_spec_errors()
    assert {Path(p.file).stem for p in raised.value.problems} == set(CASES)


# --- properties -----------------------------------------------------------------------------------

def _assert_positioned(specs, path: Path, data: bytes) -> None:
    lines = data.count(b"\n") + data.count(b"\r") + 2
    for problem in specs.problems:
        assert problem.file.endswith(path.name), problem
        assert 1 <= problem.line <= lines, problem
        assert problem.column >= 1, problem
        assert problem.format().startswith(f"{problem.file}:{problem.line}:{problem.column}: ")


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["2026-02-30", "2026-01-01T00:00:00+24:30", "0x1G", ".inf", "~", "<<", "*a", "&a", "!!int x",
                     "yes", "1e999", "00:60", "12:30:45"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(string.ascii_lowercase, max_size=6),
                                                                inner, max_size=4),
    max_leaves=20,
)
_decorations = st.sampled_from(["", "!!str ", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!null ",
                                "!!binary ", "!!set ", "!!map ", "!!seq ", "!x ", "&a ", "*a ", "? ", "<<: ",
                                "[", "{", "- ", "\t", "\x00", "\ufeff", "\\x85"])


@st.composite
def random_yaml(draw) -> bytes:
    """YAML text built from random data, then decorated at random places with tags, anchors and punctuation."""
    text = yaml.safe_dump(draw(_values), allow_unicode=True, width=40)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_decorations) + text[at:]
    return text.encode("utf-8", "surrogatepass")


_PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_PROPERTY
@given(data=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_never_raise_and_are_positioned(tmp_path: Path, data: bytes):
    path = tmp_path / "random.yaml"
    path.write_bytes(data)
    specs = load_specs([path], config_dir=ROOT / "config")
    _assert_positioned(specs, path, data)


@_PROPERTY
@given(data=random_yaml())
def test_random_yaml_never_raises_and_is_positioned(tmp_path: Path, data: bytes):
    path = tmp_path / "random.yaml"
    path.write_bytes(data)
    specs = load_specs([path], config_dir=ROOT / "config")
    _assert_positioned(specs, path, data)
    assert specs.problems or specs.specs


def test_dagbag_keeps_every_shipped_dag_beside_hostile_files(config_copy: Path):
    """What the dag-processor sees: every valid DAG, and one import error naming each hostile file."""
    from airflow.dag_processing.dagbag import DagBag

    for case in CASES:
        (config_copy / "pipelines" / f"{case}.yaml").write_bytes(CASES[case][0])
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    shipped = {p.stem for p in (ROOT / "config" / "pipelines").glob("*.yaml")} - {"defaults"}
    assert set(bag.dag_ids) == shipped
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("pipeline_spec_errors.py")
    for case in CASES:
        assert f"{case}.yaml:" in error
