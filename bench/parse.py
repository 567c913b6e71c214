"""Parse-time benchmark: our factory against astronomer's dag-factory.

Two tables, each from fresh processes, medians of ``--repeats`` runs, both
tools interleaved in the same run:

* build: N generated pipelines (8 chained stages each) rendered by the factory
  alone, against dag-factory 1.1.0 building the equivalent DAGs from its own
  YAML (same operator class, same retries, same shape).
* per loop: what the dag-processor pays per parsing loop, as Airflow's own
  ``DagBag`` (the imports the DAG files do included): ours "per file" parses
  ``dags/pipelines.py`` and ``dags/pipeline_spec_errors.py`` each in its own
  process, as the dag-processor does; "folder" is one DagBag over ``dags/``;
  dag-factory is a DagBag over its one loader file calling ``load_yaml_dags``.
  Steady state: the previous loop's outcomes are recorded.  "spec loads" is
  how many spec files our loader checked in a loop.  Then one spec is added
  to N: the first loop after the addition (error file parsed first, the worst
  case) and the next, against the steady loop of the same config.

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


DAGBAG = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
loads = []
try:  # count the spec files our loader checks (none in a dag-factory run)
    from pipeline_factory.spec import loader
    real = loader.load_spec_file
    loader.load_spec_file = lambda path, **kw: (loads.append(path), real(path, **kw))[1]
except ImportError:
    pass
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[2])
t1 = time.perf_counter()
assert not bag.import_errors, list(bag.import_errors.values())[:1]
assert len(bag.dag_ids) == int(sys.argv[1]), len(bag.dag_ids)
print(json.dumps({"loop": t1 - t0, "loads": len(loads)}))
"""

#: The one DAG file a dag-factory deployment has (the words airflow and dag let the DagBag's heuristic read it).
THEIR_DAG_FILE = """# airflow dag file: every dag-factory YAML in the folder below
from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), dags_folder={folder!r})
"""


def write_spec(pipelines: Path, i: int) -> None:
    stages = "".join(f"  - name: stage_{s}\n    type: echo\n    with: {{message: step {s}}}\n"
                     for s in range(STAGES))
    (pipelines / f"bench_{i:04d}.yaml").write_text(
        f"name: bench_{i:04d}\nschedule: '0 {i % 24} * * *'\ntags: [bench]\nstages:\n{stages}"
    )


def write_ours(folder: Path, n: int) -> None:
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True)
    for name in ("policies.yaml", "runtime.yaml", "pools.yaml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    shutil.copy(ROOT / "config" / "pipelines" / "defaults.yaml", pipelines / "defaults.yaml")
    for i in range(n):
        write_spec(pipelines, i)


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


def per_file(n: int, env: dict[str, str], *, errors_first: bool = False) -> tuple[float, int]:
    """What the dag-processor pays per loop: each DAG file parsed by a DagBag in its own process."""
    files = [(n, str(ROOT / "dags" / "pipelines.py")), (0, str(ROOT / "dags" / "pipeline_spec_errors.py"))]
    results = [run(DAGBAG, count, path, env) for count, path in (files[::-1] if errors_first else files)]
    return sum(r["loop"] for r in results), sum(r["loads"] for r in results)


def per_loop(tmp: Path, base_env: dict[str, str], n: int, repeats: int) -> None:
    """Ours (both DAG files) against dag-factory's one loader file, as the dag-processor parses them."""
    ours_dir, theirs_yaml, theirs_dags = tmp / f"loop-ours-{n}", tmp / f"loop-theirs-{n}", tmp / f"loop-dags-{n}"
    write_ours(ours_dir, n)
    write_theirs(theirs_yaml, n)
    theirs_dags.mkdir()
    (theirs_dags / "dagfactory_dags.py").write_text(THEIR_DAG_FILE.format(folder=str(theirs_yaml)))
    ours_env = {**base_env, "PIPELINE_FACTORY_CONFIG": str(ours_dir), "PIPELINE_DATA_DIR": str(tmp / f"data-{n}")}
    theirs_env = {**base_env, "PYTHONPATH": str(BENCH_SITE)}
    per_file(n, ours_env)  # the previous loop: the outcomes are recorded
    split, folder, theirs, loads = [], [], [], set()
    for _ in range(repeats):  # interleaved, so drift hits all alike
        seconds, count = per_file(n, ours_env)
        split.append(seconds)
        loads.add(count)
        folder.append(run(DAGBAG, n, str(ROOT / "dags"), ours_env)["loop"])
        theirs.append(run(DAGBAG, n, str(theirs_dags), theirs_env)["loop"])
    sp, fo, th = (statistics.median(x) for x in (split, folder, theirs))
    spec_loads = "/".join(map(str, sorted(loads)))
    print(f"{n:>5} {sp:>14.3f} {fo:>14.3f} {th:>12.3f} {sp / th:>12.2f} {fo / th:>12.2f} {spec_loads:>11}")


def one_more(tmp: Path, base_env: dict[str, str], n: int, repeats: int) -> None:
    """Per repeat, one config: the steady loop at N, the loop after adding a spec (error file parsed first,
    the worst case), the steady loop at N+1; each file in its own process as the dag-processor does."""
    before, added, after, counts = [], [], [], set()
    for r in range(repeats):
        folder = tmp / f"more-{n}-{r}"
        write_ours(folder, n)
        env = {**base_env, "PIPELINE_FACTORY_CONFIG": str(folder), "PIPELINE_DATA_DIR": str(tmp / f"more-data-{r}")}
        per_file(n, env)  # the loop before: records the outcomes
        b = per_file(n, env)
        write_spec(folder / "pipelines", n)
        a = per_file(n + 1, env, errors_first=True)
        s = per_file(n + 1, env)
        before.append(b[0])
        added.append(a[0])
        after.append(s[0])
        counts.add((b[1], a[1], s[1]))
        shutil.rmtree(folder, ignore_errors=True)
    b, a, s = (statistics.median(x) for x in (before, added, after))
    print(f"adding one spec to {n} (medians of {repeats}, each file in its own process): steady loop {b:.3f}s; "
          f"first loop at {n + 1} {a:.3f}s ({a - b:+.3f}s); steady loop at {n + 1} {s:.3f}s ({s - b:+.3f}s); "
          f"a proportional share is {b / n:.4f}s; spec files loaded per loop (before, first, after): "
          f"{sorted(counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-build", action="store_true", help="only the per-loop (DagBag) table")
    args = parser.parse_args()
    if not (BENCH_SITE / "dagfactory").exists():
        raise SystemExit("dag-factory is not installed for the benchmark: run `make bench-deps`")

    tmp = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    base_env = {**os.environ, "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False", "DO_NOT_TRACK": "1", "SCARF_ANALYTICS": "false"}
    base_env.pop("PIPELINE_RUNTIME", None)
    try:
        print(f"per loop: Airflow's DagBag, imports included (medians of {args.repeats}, seconds)")
        print(f"{'N':>5} {'ours per file':>14} {'ours folder':>14} {'dag-factory':>12} {'ratio file':>12} "
              f"{'ratio folder':>12} {'spec loads':>11}")
        for n in args.sizes:
            per_loop(tmp, base_env, n, args.repeats)
        biggest = max(args.sizes)
        one_more(tmp, base_env, biggest, args.repeats)
        if args.skip_build:
            return
        print(f"\nbuild only: {'N':>5} {'ours build':>11} {'dag-factory build':>18} {'ratio':>6} "
              f"{'ours total':>11} {'dag-factory total':>18} {'ratio':>6}   (medians of {args.repeats}, seconds)")
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
