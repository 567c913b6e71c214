"""Run Maven with a short progress line instead of silence or a thousand transfer lines.

A cold build of the Neo4j launcher fetches a few hundred POMs and jars from
Maven Central.  ``mvn -q`` says nothing for a minute or more; plain ``mvn -B``
prints two lines per file.  Here each ``Downloaded from`` line is counted and
a summary (files, megabytes, seconds) is printed every few seconds; the full
output is kept for the error message when the build fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TextIO

#: ``Downloaded from central: https://.../x.jar (1.2 MB at 3.4 MB/s)``
_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \((?P<size>[\d.]+) (?P<unit>B|kB|KB|MB|GB)")
_UNITS = {"B": 1e-6, "kB": 1e-3, "KB": 1e-3, "MB": 1.0, "GB": 1e3}


def downloaded_megabytes(line: str) -> float | None:
    """The size in MB of the file a ``Downloaded from`` line reports, else None."""
    match = _DOWNLOADED.search(line)
    if match is None:
        return None
    return float(match["size"]) * _UNITS[match["unit"]]


def run_with_progress(
    cmd: Sequence[str], *, every: float = 3.0, label: str = "neo4j", out: TextIO | None = None
) -> tuple[int, str]:
    """Run ``cmd``; print ``label: N files (X MB) fetched, Ts`` at most every ``every`` seconds.

    Returns the exit code and the whole output (stdout and stderr together).
    """
    out = out or sys.stderr
    started = last = time.monotonic()
    files, megabytes = 0, 0.0
    lines: list[str] = []
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        size = downloaded_megabytes(line)
        if size is not None:
            files += 1
            megabytes += size
        now = time.monotonic()
        if now - last >= every:
            last = now
            print(f"{label}: {files} files ({megabytes:.0f} MB) fetched from Maven Central, {now - started:.0f}s",
                  file=out, flush=True)
    returncode = proc.wait()
    if files:
        print(f"{label}: {files} files ({megabytes:.0f} MB) fetched in {time.monotonic() - started:.0f}s",
              file=out, flush=True)
    return returncode, "".join(lines)
