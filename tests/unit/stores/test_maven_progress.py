"""The Neo4j launcher's Maven build reports progress instead of silence."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_factory.stores.maven_progress import downloaded_megabytes, run_with_progress


@pytest.mark.parametrize(
    ("line", "megabytes"),
    [
        ("Downloaded from central: https://repo/x/neo4j-kernel-5.26.30.jar (12 MB at 8.1 MB/s)", 12.0),
        ("Downloaded from central: https://repo/x/a.pom (2.5 kB at 40 kB/s)", 0.0025),
        ("Downloaded from central: https://repo/x/b.sha1 (40 B at 1 kB/s)", 0.00004),
        ("Downloading from central: https://repo/x/a.pom", None),
        ("[INFO] BUILD SUCCESS", None),
    ],
)
def test_downloaded_lines_are_measured(line: str, megabytes: float | None) -> None:
    size = downloaded_megabytes(line)
    if megabytes is None:
        assert size is None
    else:
        assert size == pytest.approx(megabytes)


@given(st.text())
def test_any_line_is_either_a_download_or_none(line: str) -> None:
    size = downloaded_megabytes(line)
    assert size is None or size >= 0


def test_progress_is_printed_and_the_output_kept_for_errors() -> None:
    script = (
        "print('[INFO] Scanning for projects...')\n"
        "print('Downloaded from central: https://repo/a.jar (1.5 MB at 2 MB/s)')\n"
        "print('Downloaded from central: https://repo/b.jar (2.5 MB at 2 MB/s)')\n"
        "print('[ERROR] compilation failed')\n"
        "raise SystemExit(3)\n"
    )
    out = io.StringIO()
    code, output = run_with_progress([sys.executable, "-c", script], every=0.0, label="neo4j", out=out)
    assert code == 3
    assert "[ERROR] compilation failed" in output
    progress = out.getvalue().splitlines()
    assert progress[-1].startswith("neo4j: 2 files (4 MB) fetched in ")
    assert any("1 files (2 MB) fetched from Maven Central" in line for line in progress)
