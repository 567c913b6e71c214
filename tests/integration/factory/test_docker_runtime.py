"""The docker runtime profile for real: the DockerOperator against podman's Docker API.

No Docker engine runs here; Debian's podman serves the same API on a unix
socket (``podman system service``), as root with ``runc`` (``crun`` refuses
this machine's hybrid cgroups), ``default_ulimits = []`` (setting the file
and process limits is refused otherwise) and host networking, with private
image storage for this module.  No registry is reachable either, so the
stage-runner image is the Debian 12 root filesystem ``make stage-runner-rootfs``
builds with debootstrap, imported with ``podman import``; the project (its venv
included) and the venv's base interpreter are mounted into every container
read-only by podman's ``containers.conf``, where a released image has them
inside.  The data dir is a podman named volume bound to the run's data dir:
what a container writes there is where the next stage, in the worker, reads it.

Containers run as the profile's non-root user with group 0 and the worker
keeps a umask of 002, the official Airflow image's convention for a data
volume shared by different users.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ROOTFS = ROOT / ".cache" / "stage-runner" / "rootfs.tar"
IMAGE = "localhost/pipeline-factory/stage-runner:test"
VOLUME = "pipeline-test-data"
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
netns = "host"
log_driver = "k8s-file"
volumes = [{volumes}]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

FAILING_GPU_SPEC = """\
name: docker_gpu_fails
description: A GPU stage whose container exits non-zero.
stages:
  - name: prepare
    type: echo
  - name: convert
    type: command
    compute: gpu
    policy: gpu-bound
    with:
      argv:
        - python
        - -c
        - "import os, sys; open(os.environ['PIPELINE_DATA_DIR'] + '/attempts.txt', 'a').write('1'); sys.exit(3)"
"""


@dataclass
class Podman:
    root: Path
    socket: str
    config: Path
    data: Path
    argv: list[str]
    env: dict[str, str]

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.socket)


def _why_podman_cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "podman runs the stage containers as root here (rootless needs subuid maps): run the tests as root"
    missing = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed: run `make container-deps`"
    if not ROOTFS.exists():
        return f"no stage-runner root filesystem at {ROOTFS}: run `make stage-runner-rootfs`"
    return None


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if reason := _why_podman_cannot_run():
        pytest.skip(reason)
    # Outside pytest's 0700 temp root: the containers' user must reach config/ and data/.
    root = Path(tempfile.mkdtemp(prefix="pipeline-factory-podman-"))
    os.chmod(root, 0o755)
    config, data = root / "config", root / "data"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("schema"))
    (config / "pipelines" / "docker_gpu_fails.yaml").write_text(FAILING_GPU_SPEC)
    data.mkdir(mode=0o775)
    os.chmod(data, 0o775)  # group 0 writes: the stage user is 1000:0
    mounts = {ROOT: ROOT, config: config}
    base = Path(sys.base_prefix).resolve()
    if base != Path("/usr"):  # a pyenv/uv interpreter the image does not have
        mounts[base] = base
    volumes = ", ".join(f'"{src}:{dst}:ro"' for src, dst in mounts.items())
    (root / "containers.conf").write_text(CONTAINERS_CONF.format(volumes=volumes))
    env = {**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")}
    argv = ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]
    socket = f"unix://{root / 'podman.sock'}"
    imported = subprocess.run(
        [*argv, "import", "--change", f"ENV PATH={Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
         # As the Dockerfile's stage-runner target: the runner is the entrypoint.
         "--change", 'ENTRYPOINT ["python", "-m", "pipeline_factory.runner"]', "--change", "USER 1000:0",
         str(ROOTFS), IMAGE], env=env, capture_output=True, text=True, timeout=300,
    )
    if imported.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"podman import failed: {imported.stderr[-2000:]}")
    service = subprocess.Popen([*argv, "system", "service", "--time=0", socket], env=env,
                               stdout=(root / "service.log").open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    engine = Podman(root=root, socket=socket, config=config, data=data, argv=argv, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                engine.client().ping()
                break
            except Exception:
                if service.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"podman system service did not answer:\n{(root / 'service.log').read_text()}")
                time.sleep(0.5)
        engine.client().volumes.create(VOLUME, driver="local",
                                       driver_opts={"type": "none", "o": "bind", "device": str(data)})
        yield engine
    finally:
        subprocess.run([*argv, "rm", "--all", "--force"], env=env, capture_output=True, timeout=120)
        os.killpg(service.pid, 15)
        service.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def docker_profile(
    podman: Podman, monkeypatch: pytest.MonkeyPatch, neo4j_server: Any, airflow_db: Path
) -> Iterator[Podman]:
    """The shipped docker profile pointed at podman; the worker side uses the same data dir and config."""
    runtime_file = podman.config / "runtime.yaml"
    runtime = yaml.safe_load(runtime_file.read_text())
    runtime["profiles"]["docker"].update(
        image=IMAGE, docker_url=podman.socket, network_mode="host", workspace_volume=VOLUME,
        env={"PIPELINE_FACTORY_CONFIG": str(podman.config), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    runtime_file.write_text(yaml.safe_dump(runtime, sort_keys=False))
    monkeypatch.setenv("PIPELINE_RUNTIME", "docker")
    monkeypatch.setenv("PIPELINE_FACTORY_CONFIG", str(podman.config))
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(podman.data))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    previous = os.umask(0o002)
    yield podman
    os.umask(previous)


def _render(name: str) -> Any:
    from pipeline_factory.factory.dagfile import render_all

    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    return rendered.dags[name]


def test_docs_auto_embeds_in_a_container_and_the_next_stage_reads_its_output(docker_profile: Podman, dag_runner):
    from airflow.providers.docker.operators.docker import DockerOperator

    from pipeline_factory.stores.vectors import VectorStore
    from pipeline_factory.workspace import run_dir

    dag = _render("docs_auto")
    embed = dag.get_task("embed")
    assert isinstance(embed, DockerOperator) and embed.docker_url == docker_profile.socket
    started = time.monotonic()
    run = dag_runner.run(dag, {"source_path": str(ROOT / "examples/documents"), "collection": "docker_docs"})
    wall = time.monotonic() - started
    states = dag_runner.states(run)
    assert run.state == "success", states
    assert set(states.values()) == {"success"}, states

    outputs = [p for p in (run_dir("docs_auto", run.run_id) / "embed").rglob("*") if p.is_file()]
    assert outputs, "the container wrote nothing into the shared data volume"
    assert {p.stat().st_uid for p in outputs} == {1000}  # written by the container's user, not the worker
    embed_dir = run_dir("docs_auto", run.run_id) / "embed"
    assert embed_dir.stat().st_mode & 0o070 == 0o070  # umask 002 in the container: the worker's group writes
    with VectorStore(path=docker_profile.data / "qdrant") as store:  # index, in the worker, read them
        assert store.count("docker_docs") > 0
    containers = docker_profile.client().containers.list(all=True, filters={"ancestor": IMAGE})
    assert not containers, "a successful stage container is removed (auto_remove=success)"
    print(f"\ndocs_auto with embed in a podman container: {wall:.1f}s wall")


def test_a_failing_container_fails_its_gpu_bound_task_once(docker_profile: Podman, dag_runner):
    dag = _render("docker_gpu_fails")
    convert = dag.get_task("convert")
    assert convert.retries == 0  # gpu-bound: fail fast
    run = dag_runner.run(dag)
    assert run.state == "failed"
    assert dag_runner.states(run) == {"prepare": "success", "convert": "failed"}
    from airflow.utils.session import create_session

    with create_session() as session:
        [ti] = [ti for ti in run.get_task_instances(session=session) if ti.task_id == "convert"]
        assert ti.try_number == 1 and ti.max_tries == 0
    # Each container run appends to a file on the shared volume: one run, no retry.
    assert (docker_profile.data / "attempts.txt").read_text() == "1"
