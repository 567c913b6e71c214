"""Test-wide setup: a private Airflow home, data dir and config for the session.

Set before anything imports Airflow, so no test can touch a developer's
``.airflow/`` or ``.data/``.  Tiers: unmarked tests are fast unit tests;
``integration`` talks to real servers started here; ``e2e`` drives real
Airflow processes (`make test-fast` runs the first tier alone).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION_TMP = Path(tempfile.mkdtemp(prefix="pipeline-factory-tests-"))

os.environ["AIRFLOW_HOME"] = str(SESSION_TMP / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["PIPELINE_FACTORY_CONFIG"] = str(ROOT / "config")
os.environ["PIPELINE_DATA_DIR"] = str(SESSION_TMP / "data")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The boundaries of what a run may reach, opened for what the tests use: the
# shipped examples and test fixtures, each test's tmp_path (the temp folder),
# and the local stand-in servers on 127.0.0.1.  Tests of the defaults and of
# each refusal set these themselves.
os.environ["PIPELINE_SOURCE_ROOTS"] = os.pathsep.join(
    [str(ROOT / "examples"), str(ROOT / "tests" / "fixtures"), str(Path(tempfile.gettempdir()).resolve())]
)
os.environ["PIPELINE_URL_ALLOWLIST"] = "127.0.0.1,localhost"
os.environ.pop("PIPELINE_RUNTIME", None)
os.environ.pop("PIPELINE_LEDGER_URL", None)
os.environ.pop("PIPELINE_PUSHGATEWAY_URL", None)  # metrics go to the monitoring tests' own servers only


def pytest_unconfigure(config: pytest.Config) -> None:
    if not os.environ.get("PIPELINE_KEEP_TEST_TMP"):
        shutil.rmtree(SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for ``dag.test()``."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> Any:
    """The project's ``dags/`` folder parsed once, as the dag-processor would."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of ``config/`` made the active config folder for one test."""
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target, ignore=shutil.ignore_patterns("schema"))
    monkeypatch.setenv("PIPELINE_FACTORY_CONFIG", str(target))
    yield target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Any]:
    """One real Neo4j (the project's launcher) per session, on a free port.

    Points ``NEO4J_URI`` at it so stage code finds it through
    ``GraphStore.from_env()`` and yields a connected ``GraphStore``.  The
    first session on a machine builds the launcher with Maven (about 1.5
    minutes, then cached under ``.cache/``).  Skipped only when Java is missing.
    """
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: no Neo4j")
    from pipeline_factory.devservers import control as devservers
    from pipeline_factory.stores.graph import GraphStore

    home = Path(tempfile.mkdtemp(prefix="neo4j-test-"))
    info = devservers.start("neo4j", free_port(), home=home)
    previous = os.environ.get("NEO4J_URI")
    os.environ["NEO4J_URI"] = info.url
    store = GraphStore(info.url)
    try:
        store.verify()
        yield store
    finally:
        store.close()
        devservers.stop("neo4j", home=home)
        shutil.rmtree(home, ignore_errors=True)
        if previous is None:
            os.environ.pop("NEO4J_URI", None)
        else:
            os.environ["NEO4J_URI"] = previous


@pytest.fixture
def make_pdf():
    """``make_pdf(title, [(heading, text), ...]) -> bytes``: a real PDF, one section a page (fpdf2)."""

    def make(title: str, sections: list[tuple[str, str]], *, blank: bool = False) -> bytes:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_title(title)
        if blank:
            pdf.add_page()
            return bytes(pdf.output())
        for number, (heading, text) in enumerate(sections):
            pdf.add_page()
            if number == 0:
                pdf.set_font("Helvetica", "B", 16)
                pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())

    return make


class DagRunner:
    """Runs a DAG with ``dag.test()`` and reads back what happened."""

    def run(self, dag: Any, conf: dict[str, Any] | None = None) -> Any:
        return dag.test(run_conf=conf or {})

    def states(self, dag_run: Any) -> dict[str, str]:
        """``{task_id: state}`` of a finished DagRun."""
        from airflow.utils.session import create_session

        with create_session() as session:
            return {
                ti.task_id: getattr(ti.state, "value", str(ti.state))
                for ti in dag_run.get_task_instances(session=session)
            }


@pytest.fixture(scope="session")
def dag_runner(airflow_db: Path) -> DagRunner:
    return DagRunner()


def rename_stages(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``spec`` with every stage renamed (and ``depends_on`` / ``inputs`` following): ``(spec, old -> new)``.

    The new names share nothing with the old ones, so any lookup by a stage's
    name (a folder, a result) would miss.
    """
    import copy

    spec = copy.deepcopy(spec)
    mapping = {stage["name"]: f"step{index:02d}_{stage['name'][::-1]}" for index, stage in enumerate(spec["stages"])}
    for stage in spec["stages"]:
        stage["name"] = mapping[stage["name"]]
        if stage.get("depends_on") is not None:
            stage["depends_on"] = [mapping[d] for d in stage["depends_on"]]
        if stage.get("inputs"):
            stage["inputs"] = {kind: mapping[producer] for kind, producer in stage["inputs"].items()}
    return spec, mapping


@pytest.fixture
def renamed_pipeline(config_copy: Path):
    """``renamed_pipeline(name) -> old -> new``: the shipped spec in ``config_copy`` with every stage renamed."""
    import yaml

    def rename(name: str) -> dict[str, str]:
        path = config_copy / "pipelines" / f"{name}.yaml"
        spec, mapping = rename_stages(yaml.safe_load(path.read_text()))
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return mapping

    return rename


@pytest.fixture
def stage_renamer():
    """:func:`rename_stages` for tests that rename a spec of their own."""
    return rename_stages
