"""Parse-time benchmark: our factory against astronomer's dag-factory.

Renders N generated pipelines (8 chained stages each) in a fresh process, as
the dag-processor does, and builds the equivalent DAGs with dag-factory 1.1.0
from its own YAML in the same run (same operator class, same retries, same
shape).  Prints medians of several runs and the ratio.

    make bench-parse            # installs dag-factory into .cache/bench-site, then runs this
    python bench/parse.py --sizes 10 100 500 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_SITE = ROOT / ".cache" / "bench-site"
STAGES = 8

OURS = """
import json, sys, time
t0 = time.perf_counter()
from pipeline_factory.factory.dagfile import render_all
t1 = time.perf_counter()
rendered = render_all()
t2 = time.perf_counter()
assert not rendered.problems, rendered.problems[:3]
assert len(rendered.dags) == int(sys.argv[1]), len(rendered.dags)
print(json.dumps({"import": t1 - t0, "build": t2 - t1}))
"""

THEIRS = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
from dagfactory import load_yaml_dags
t1 = time.perf_counter()
found = {}
load_yaml_dags(globals_dict=found, dags_folder=sys.argv[2])
t2 = time.perf_counter()
assert len(found) == int(sys.argv[1]), len(found)
print(json.dumps({"import": t1 - t0, "build": t2 - t1}))
"""


def write_ours(folder: Path, n: int) -> None:
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True)
    for name in ("policies.yaml", "runtime.yaml", "pools.yaml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    shutil.copy(ROOT / "config" / "pipelines" / "defaults.yaml", pipelines / "defaults.yaml")
    for i in range(n):
        stages = "".join(f"  - name: stage_{s}\n    type: echo\n    with: {{message: step {s}}}\n"
                         for s in range(STAGES))
        (pipelines / f"bench_{i:04d}.yaml").write_text(
            f"name: bench_{i:04d}\nschedule: '0 {i % 24} * * *'\ntags: [bench]\nstages:\n{stages}"
        )


def write_theirs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        tasks = []
        for s in range(STAGES):
            deps = f"\n      dependencies: [stage_{s - 1}]" if s else ""
            tasks.append(
                f"    - task_id: stage_{s}\n"
                f"      operator: pipeline_factory.operators.stage.StageOperator\n"
                f"      pipeline: bench_{i:04d}\n      stage: stage_{s}\n      stage_type: echo{deps}"
            )
        (folder / f"bench_{i:04d}.yaml").write_text(
            f"bench_{i:04d}:\n"
            f"  default_args:\n    owner: data-platform\n    start_date: 2026-01-01\n"
            f"    retries: 2\n    retry_delay_sec: 30\n"
            f"  schedule: '0 {i % 24} * * *'\n  catchup: false\n  tags: [bench]\n"
            f"  tasks:\n" + "\n".join(tasks) + "\n"
        )


def run(code: str, n: int, folder: Path, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code, str(n), str(folder)], env=env, capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (BENCH_SITE / "dagfactory").exists():
        raise SystemExit("dag-factory is not installed for the benchmark: run `make bench-deps`")

    tmp = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    base_env = {**os.environ, "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False", "DO_NOT_TRACK": "1", "SCARF_ANALYTICS": "false"}
    base_env.pop("PIPELINE_RUNTIME", None)
    print(f"{'N':>5} {'ours build':>11} {'dag-factory build':>18} {'ratio':>6} "
          f"{'ours total':>11} {'dag-factory total':>18} {'ratio':>6}   (medians of {args.repeats}, seconds)")
    try:
        for n in args.sizes:
            ours_dir, theirs_dir = tmp / f"ours-{n}", tmp / f"theirs-{n}"
            write_ours(ours_dir, n)
            write_theirs(theirs_dir, n)
            ours_env = {**base_env, "PIPELINE_FACTORY_CONFIG": str(ours_dir)}
            theirs_env = {**base_env, "PYTHONPATH": str(BENCH_SITE)}
            ours, theirs = [], []
            for _ in range(args.repeats):  # interleaved, so drift hits both alike
                ours.append(run(OURS, n, ours_dir, ours_env))
                theirs.append(run(THEIRS, n, theirs_dir, theirs_env))
            ob = statistics.median(r["build"] for r in ours)
            tb = statistics.median(r["build"] for r in theirs)
            ot = statistics.median(r["build"] + r["import"] for r in ours)
            tt = statistics.median(r["build"] + r["import"] for r in theirs)
            print(f"{n:>5} {ob:>11.3f} {tb:>18.3f} {ob / tb:>6.2f} {ot:>11.3f} {tt:>18.3f} {ot / tt:>6.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
