"""The embedded vector store: Qdrant Edge vs qdrant-client's local mode, through ``VectorStore``.

    .venv/bin/python bench/vectors.py [--points 10000] [--runs 3] [--queries 50]

Writes ``--points`` x 384 unit vectors with document-chunk payloads
(~1 KB of text each) into a fresh collection on each engine, then times
top-10 searches and reopening the store in a new process.  Each figure is
the median of ``--runs`` runs, the engines interleaved in one process.
"today" is local mode as the project wrote to it before (PointStructs from
per-vector lists, batches of 256).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

REOPEN = (
    "import sys, time; t = time.perf_counter()\n"
    "from pipeline_factory.stores.vectors import VectorStore\n"
    "s = VectorStore(path=sys.argv[1], engine=sys.argv[2]); n = s.count('bench'); s.close()\n"
    "print(n, time.perf_counter() - t)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    from pipeline_factory.stores.vectors import VectorStore, point_id

    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(args.points, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = [
        (point_id(f"chunk:{i}"), vectors[i], {"chunk_id": f"chunk:{i}", "doc_id": f"doc:{i // 8}", "index": i % 8,
                                             "text": "lorem ipsum dolor sit amet " * 36, "pipeline": "bench"})
        for i in range(args.points)
    ]
    results: dict[str, dict[str, list[float]]] = {}
    for run in range(args.runs):
        for engine, batch in (("local", 256), ("edge", 1024)):
            label = "local (today)" if engine == "local" else "edge"
            with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
                with VectorStore(path=Path(tmp), engine=engine) as store:
                    store.ensure_collection("bench", 384)
                    started = time.perf_counter()
                    store.upsert("bench", points, batch_size=batch)
                    write = time.perf_counter() - started
                    started = time.perf_counter()
                    for q in vectors[: args.queries]:
                        store.search("bench", q, limit=10)
                    search = (time.perf_counter() - started) / args.queries
                out = subprocess.run([sys.executable, "-c", REOPEN, tmp, engine], capture_output=True, text=True,
                                     check=True).stdout.split()
                assert int(out[0]) == args.points, out
            figures = results.setdefault(label, {"write": [], "search": [], "reopen": []})
            figures["write"].append(args.points / write)
            figures["search"].append(search * 1000)
            figures["reopen"].append(float(out[1]))
            print(f"run {run + 1} {label}: {args.points / write:.0f} points/s, search {search * 1000:.2f} ms, "
                  f"reopen + count in a new process {float(out[1]):.2f} s", flush=True)
    base = statistics.median(results["local (today)"]["write"])
    base_search = statistics.median(results["local (today)"]["search"])
    print(f"\n{args.points} x 384 points, median of {args.runs} runs:")
    for label, figures in results.items():
        write, search = statistics.median(figures["write"]), statistics.median(figures["search"])
        print(f"  {label:14s} write {write:8.0f} points/s (x{write / base:5.1f})  top-10 search {search:8.2f} ms "
              f"(x{base_search / search:6.1f} faster)  reopen {statistics.median(figures['reopen']):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
