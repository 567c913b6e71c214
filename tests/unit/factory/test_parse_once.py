"""One parsing loop checks each spec once, and still reports every broken spec and registers every valid one.

``dags/pipelines.py`` renders every spec; ``dags/pipeline_spec_errors.py``
reads the recorded outcomes and checks only the files it has none for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_factory.factory import dagfile
from pipeline_factory.spec import loader

ROOT = Path(__file__).resolve().parents[3]
GOOD = "name: {name}\nstages:\n  - name: a\n    type: echo\n    with: {{message: hi}}\n"
BROKEN = "name: {name}\nstages:\n  - name: a\n    type: ecoh\n"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every spec file the loader checks, in order."""
    seen: list[Path] = []
    real = loader.load_spec_file

    def counting(path: Path, **kwargs):
        seen.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(loader, "load_spec_file", counting)
    return seen


def test_error_file_checks_nothing_the_dag_file_already_checked(config_copy: Path, loads: list[Path]):
    (config_copy / "pipelines" / "broken_one.yaml").write_text(BROKEN.format(name="broken_one"))
    rendered = dagfile.render_all(auto_register=False)
    assert "example_hello" in rendered.dags
    loads.clear()
    with pytest.raises(dagfile.BrokenSpecs) as raised:
        dagfile.raise_spec_errors()
    assert loads == []  # reported from the recorded outcome: no second load, no second build
    assert [p.type for p in raised.value.problems] == ["unknown_stage_type"]
    assert raised.value.files == [loader.display_path(config_copy / "pipelines" / "broken_one.yaml")]


def test_a_changed_or_added_spec_is_checked_alone(config_copy: Path, loads: list[Path]):
    dagfile.render_all(auto_register=False)
    added = config_copy / "pipelines" / "added.yaml"
    added.write_text(BROKEN.format(name="added"))
    loads.clear()
    with pytest.raises(dagfile.BrokenSpecs):
        dagfile.raise_spec_errors()
    assert loads == [added]
    added.write_text(GOOD.format(name="added"))
    loads.clear()
    dagfile.raise_spec_errors()  # fixed: nothing to report
    assert loads == [added]


def test_a_shared_file_change_voids_every_outcome(config_copy: Path, loads: list[Path]):
    dagfile.render_all(auto_register=False)
    policies = config_copy / "policies.yaml"
    policies.write_text(policies.read_text() + "\n")
    loads.clear()
    dagfile.raise_spec_errors()
    assert len(loads) == len(loader.spec_files(config_copy / "pipelines"))


def test_the_dag_file_rebuilds_unchanged_specs_from_their_record(config_copy: Path, loads: list[Path]):
    """The next loop parses and checks only changed specs, and the DAGs it builds are the same."""
    from pipeline_factory.factory.describe import describe_dag

    first = dagfile.render_all(auto_register=False)
    loads.clear()
    second = dagfile.render_all(auto_register=False)
    assert loads == []
    assert set(second.dags) == set(first.dags) and not second.problems
    for name, dag in first.dags.items():
        assert describe_dag(second.dags[name]) == describe_dag(dag), name
        assert second.dags[name].doc_md == dag.doc_md
    edited = config_copy / "pipelines" / "example_hello.yaml"
    edited.write_text(edited.read_text().replace("tags: [", "tags: [edited, "))
    loads.clear()
    third = dagfile.render_all(auto_register=False)
    assert loads == [edited]
    assert "edited" in third.dags["example_hello"].tags


def test_duplicate_names_across_recorded_outcomes(config_copy: Path):
    (config_copy / "pipelines" / "zz_copy.yaml").write_text(GOOD.format(name="example_hello"))
    dagfile.render_all(auto_register=False)
    with pytest.raises(dagfile.BrokenSpecs) as raised:
        dagfile.raise_spec_errors()
    [problem] = raised.value.problems
    assert problem.type == "duplicate_pipeline" and problem.file.endswith("zz_copy.yaml") and problem.line == 1


def test_a_problem_in_defaults_is_reported_as_the_loader_reports_it(config_copy: Path):
    """Problems of specs that point into defaults.yaml: the same list as a full check, none doubled."""
    defaults = config_copy / "pipelines" / "defaults.yaml"
    dagfile.render_all(auto_register=False)
    defaults.write_text(defaults.read_text().replace("catchup: false", "catchup: sometimes"))
    with pytest.raises(dagfile.BrokenSpecs) as raised:
        dagfile.raise_spec_errors()
    full = loader.load_specs(config_dir=config_copy).problems
    assert full and all(p.file.endswith("defaults.yaml") for p in full)
    assert sorted(raised.value.problems, key=repr) == sorted(full, key=repr)


def test_headline_names_the_yaml_files_first(config_copy: Path):
    for name in ("b_broken", "a_broken"):
        (config_copy / "pipelines" / f"{name}.yaml").write_text(BROKEN.format(name=name))
    with pytest.raises(dagfile.BrokenSpecs) as raised:
        dagfile.raise_spec_errors()
    first = str(raised.value).splitlines()[0]
    assert "a_broken.yaml" in first and "b_broken.yaml" in first
    assert "example_hello" not in first


def test_separate_processes_share_the_outcomes(config_copy: Path, tmp_path: Path):
    """The dag-processor parses each DAG file in its own process: the outcomes travel through the data dir."""
    (config_copy / "pipelines" / "broken_one.yaml").write_text(BROKEN.format(name="broken_one"))
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "data")}
    first = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('dags/pipelines.py')"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    code = (
        "import runpy\n"
        "from pipeline_factory.spec import loader\n"
        "seen = []\n"
        "real = loader.load_spec_file\n"
        "loader.load_spec_file = lambda path, **kw: (seen.append(path), real(path, **kw))[1]\n"
        "try:\n"
        "    runpy.run_path('dags/pipeline_spec_errors.py')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, str(exc).splitlines()[0])\n"
        "print('loaded', len(seen))\n"
    )
    second = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    lines = second.stdout.strip().splitlines()
    assert lines[-1] == "loaded 0"
    assert lines[-2].startswith("BrokenSpecs 1 broken pipeline spec file(s): ") and "broken_one.yaml" in lines[-2]


def _minimal_config(folder: Path) -> Path:
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True)
    for name in ("policies.yaml", "runtime.yaml", "pools.yaml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    shutil.copy(ROOT / "config" / "pipelines" / "defaults.yaml", pipelines / "defaults.yaml")
    return pipelines


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(st.booleans(), min_size=1, max_size=5),
    edits=st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=4),
    errors_file_first=st.booleans(),
)
def test_every_valid_spec_registered_and_every_broken_one_reported(
    monkeypatch: pytest.MonkeyPatch, first: list[bool], edits: list[tuple[int, bool]], errors_file_first: bool
):
    """Whatever the edits between loops and whichever file is parsed first, the two files agree with a full check."""
    with tempfile.TemporaryDirectory() as tmp:
        pipelines = _minimal_config(Path(tmp) / "config")
        monkeypatch.setenv("PIPELINE_FACTORY_CONFIG", str(Path(tmp) / "config"))
        state = dict(enumerate(first))
        for loop in [[], *[[edit] for edit in edits]]:
            for index, good in loop:
                state[index] = good
            for index, good in state.items():
                (pipelines / f"p{index}.yaml").write_text((GOOD if good else BROKEN).format(name=f"p{index}"))
            order = ["errors", "dags"] if errors_file_first else ["dags", "errors"]
            registered: set[str] = set()
            reported: list[str] = []
            for which in order:
                if which == "dags":
                    registered = set(dagfile.render_all(auto_register=False).dags)
                else:
                    try:
                        dagfile.raise_spec_errors()
                    except dagfile.BrokenSpecs as exc:
                        reported = exc.files
            assert registered == {f"p{i}" for i, good in state.items() if good}
            assert sorted(Path(f).stem for f in reported) == sorted(f"p{i}" for i, good in state.items() if not good)
