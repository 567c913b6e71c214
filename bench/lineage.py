"""What lineage costs: declaring a stage's datasets, and a DAG run with events on vs off.

    .venv/bin/python bench/lineage.py [--runs 3] [--pipeline example_hello]

1. Declaring: ``lineage_for_run`` (what the operator does at START and FAIL:
   load the spec, validate the stage's params, call the stage type's lineage
   function) for every task stage of every shipped pipeline; median ms.
2. A DAG run under ``dag.test()`` in a fresh process, without a lineage setting
   and with ``OPENLINEAGE_URL`` pointing at the local receiver (every event
   sent over HTTP and checked against the OpenLineage models); median wall
   seconds of each and their ratio.

Runs in a throw-away Airflow home and data dir.  Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN_DAG = """
import json, sys
from pipeline_factory.factory.dagfile import render_all
run = render_all(auto_register=False).dags[sys.argv[1]].test(run_conf={})
print("DAG_RUN " + json.dumps({"state": str(getattr(run.state, "value", run.state))}))
"""


def declaring(runs: int) -> dict[str, float]:
    from pipeline_factory.lineage.declared import lineage_for_run
    from pipeline_factory.spec.loader import load_specs

    stages = [(loaded.spec.name, name) for loaded in load_specs().specs.values()
              for name, resolved in loaded.stages.items() if resolved.stage_type.kind == "task"]
    timings = []
    for _ in range(runs):
        for pipeline, stage in stages:
            started = time.perf_counter()
            lineage_for_run(pipeline, stage, run_id="bench", params={"search_terms": ["TP53"]})
            timings.append((time.perf_counter() - started) * 1000)
    return {"stages": len(stages), "median_ms": round(statistics.median(timings), 2),
            "max_ms": round(max(timings), 2)}


def dag_run(pipeline: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_DAG, pipeline], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    seconds = time.perf_counter() - started
    line = next((x for x in done.stdout.splitlines() if x.startswith("DAG_RUN ")), None)
    if line is None or json.loads(line.removeprefix("DAG_RUN "))["state"] != "success":
        raise SystemExit(f"{pipeline} did not succeed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pipeline", default="example_hello")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-lineage-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE"))}
        env.update(AIRFLOW_HOME=f"{tmp}/airflow", PIPELINE_DATA_DIR=f"{tmp}/data", AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), PIPELINE_FACTORY_CONFIG=str(ROOT / "config"))
        os.environ.update({k: env[k] for k in ("AIRFLOW_HOME", "PIPELINE_DATA_DIR", "PIPELINE_FACTORY_CONFIG")})
        print("declaring datasets:", json.dumps(declaring(args.runs)))

        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        from pipeline_factory.devservers.lineage_receiver import LineageReceiver

        off, on = [], []
        with LineageReceiver() as receiver:
            for _ in range(args.runs):
                off.append(dag_run(args.pipeline, env))
                on.append(dag_run(args.pipeline, {**env, "OPENLINEAGE_URL": receiver.url}))
        figures = {
            "pipeline": args.pipeline,
            "runs": args.runs,
            "off_median_s": round(statistics.median(off), 2),
            "on_median_s": round(statistics.median(on), 2),
            "ratio_on_off": round(statistics.median(on) / statistics.median(off), 2),
            "events_received": len(receiver.events),
            "events_invalid": len(receiver.invalid),
        }
        print("dag.test() with lineage off vs on:", json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
