"""``validate`` on the shipped specs alone and beside one pathological file each.

Each case is a fresh ``python -m pipeline_factory validate`` process (as an
author runs it), timed end to end with its peak memory; the figure is the
median of ``--runs`` runs, with the shipped tree alone as the baseline.  The
promise: under 2 s and no more than a few MB over the baseline for any single
pathological file.

    .venv/bin/python bench/validate.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = b"stages:\n  - name: a\n    type: echo\n"
CASES: dict[str, bytes] = {
    "shipped only": b"",
    "billion laughs": b"name: bomb\n" + b"".join(
        b"l%d: &l%d [%s]\n" % (i, i, b",".join([b"*l%d" % (i - 1)] * 9) if i else b"x") for i in range(9)) + STAGES,
    "5000-deep nesting": b"name: x\ndescription: " + b"[" * 5000 + b"]" * 5000 + b"\n" + STAGES,
    "100k values": b"name: x\ntags: [" + b",".join([b"t"] * 100_000) + b"]\n" + STAGES,
    "2 MB file": b"name: x\n" + STAGES + b"#" * 2_000_000,
    "latin-1 bytes": "name: caf\xe9\n".encode("latin-1") + STAGES,
}


def run_once(config: Path) -> tuple[float, int]:
    env = {**os.environ, "PIPELINE_FACTORY_CONFIG": str(config)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline_factory", "validate"], env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    return seconds, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':<20} {'median s':>9} {'peak MB':>8}")
    for case, data in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config"
            shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("schema"))
            if data:
                (config / "pipelines" / "zz_case.yaml").write_bytes(data)
            runs = [run_once(config) for _ in range(args.runs)]
        print(f"{case:<20} {statistics.median(r[0] for r in runs):>9.2f} {max(r[1] for r in runs) / 1024:>8.0f}")


if __name__ == "__main__":
    main()
