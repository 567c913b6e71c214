"""fetch_data: append only unseen batch files to the consolidated dataset.

The watermark is the set of batch files already consolidated (name and
content hash), kept next to the dataset in the data dir.  The dataset itself
records each row's batch, so a crash between writing the dataset and the
watermark cannot append a batch twice: on the next run the dataset's own
batch column is part of the watermark.

Each run works on a snapshot copied into its workspace, so a later run's
append never changes what an earlier run trained on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.params import FetchDataParams

log = logging.getLogger(__name__)

BATCH_COLUMN = "_batch"
FORCE_PARAM = "force_full_retrain"


@dataclass(frozen=True)
class BatchFile:
    name: str
    path: str
    format: str


def dataset_dir(data_dir: Path, dataset: str) -> Path:
    return data_dir / "ml" / "datasets" / dataset


def _filesystem(source: str, data_dir: Path):
    """A pyarrow filesystem and the folder path inside it."""
    from pyarrow import fs

    if "://" in source:
        return fs.FileSystem.from_uri(source)
    path = Path(source)
    if not path.is_absolute():
        path = data_dir / path
    return fs.LocalFileSystem(), str(path)


def list_batches(source: str, data_dir: Path, formats: list[str]) -> tuple[Any, list[BatchFile]]:
    from pyarrow import fs

    filesystem, folder = _filesystem(source, data_dir)
    info = filesystem.get_file_info(folder)
    if info.type == fs.FileType.NotFound:
        raise StageError(f"the batch source {source!r} does not exist")
    selector = fs.FileSelector(folder, recursive=False)
    batches = []
    for entry in filesystem.get_file_info(selector):
        if entry.type != fs.FileType.File or entry.base_name.startswith("."):
            continue
        suffix = entry.base_name.rsplit(".", 1)[-1].lower()
        if suffix in formats:
            batches.append(BatchFile(entry.base_name, entry.path, suffix))
    return filesystem, sorted(batches, key=lambda b: b.name)


def _read_bytes(filesystem: Any, path: str) -> bytes:
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def _read_batch(data: bytes, fmt: str, time_column: str | None):
    import io

    import pandas as pd

    frame = pd.read_csv(io.BytesIO(data)) if fmt == "csv" else pd.read_parquet(io.BytesIO(data))
    if time_column:
        if time_column not in frame.columns:
            raise StageError(f"batch is missing the time column {time_column!r}")
        frame[time_column] = pd.to_datetime(frame[time_column], utc=False)
    return frame


@contextmanager
def _dataset_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_watermark(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / "watermark.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text())["batches"])


def fingerprint(watermark: dict[str, dict[str, Any]]) -> str:
    """Identifies the dataset's content: the batches and their hashes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(watermark):
        digest.update(f"{name}:{watermark[name]['sha256']}\n".encode())
    return digest.hexdigest()[:16]


class FetchData:
    """Consolidate new batches; skip the run when there are none (unless forced)."""

    def run(self, ctx: StageContext, params: FetchDataParams) -> StageResult:
        import pandas as pd

        force = bool(ctx.params.get(FORCE_PARAM, False))
        folder = dataset_dir(ctx.data_dir, params.dataset)
        dataset_path = folder / "dataset.parquet"
        filesystem, batches = list_batches(params.source, ctx.data_dir, list(params.formats))

        with _dataset_lock(folder):
            watermark = load_watermark(folder)
            existing = pd.read_parquet(dataset_path) if dataset_path.exists() else None
            if existing is not None:
                for name in existing[BATCH_COLUMN].unique():
                    watermark.setdefault(str(name), {"sha256": "unknown", "rows": None})

            new_frames = []
            added: list[str] = []
            for batch in batches:
                data = _read_bytes(filesystem, batch.path)
                sha = hashlib.sha256(data).hexdigest()
                seen = watermark.get(batch.name)
                if seen is not None:
                    if seen["sha256"] not in (sha, "unknown"):
                        raise StageError(
                            f"batch {batch.name} changed after it was consolidated "
                            f"(sha256 {seen['sha256'][:12]} -> {sha[:12]}); batches are immutable: "
                            "publish the correction as a new batch file"
                        )
                    continue
                frame = _read_batch(data, batch.format, params.time_column)
                frame[BATCH_COLUMN] = batch.name
                new_frames.append(frame)
                added.append(batch.name)
                watermark[batch.name] = {
                    "sha256": sha,
                    "rows": len(frame),
                    "added_at": datetime.now(UTC).isoformat(),
                    "run_id": ctx.run_id,
                }

            if not added and not force:
                raise StageSkipped(
                    f"no new batches in {params.source} ({len(batches)} seen already); "
                    f"trigger with {{\"{FORCE_PARAM}\": true}} to retrain anyway"
                )
            if existing is None and not new_frames:
                raise StageError(f"nothing to train on: {params.source} holds no batches")

            rows_added = sum(len(f) for f in new_frames)
            if new_frames:
                frames = ([existing] if existing is not None else []) + new_frames
                dataset = pd.concat(frames, ignore_index=True)
                if params.time_column:
                    dataset = dataset.sort_values(params.time_column, kind="stable").reset_index(drop=True)
                tmp = folder / ".dataset.parquet.tmp"
                dataset.to_parquet(tmp, index=False)
                tmp.replace(dataset_path)
                tmp_mark = folder / ".watermark.json.tmp"
                tmp_mark.write_text(json.dumps({"batches": watermark}, indent=2, sort_keys=True))
                tmp_mark.replace(folder / "watermark.json")
            else:
                dataset = existing

        snapshot = ctx.stage_dir / "dataset.parquet"
        dataset.to_parquet(snapshot, index=False)
        result = {
            "kind": "ml.fetch_data",
            "dataset": str(snapshot),
            "rows_added": rows_added,
            "batches_added": added,
            "total_rows": len(dataset),
            "total_batches": int(dataset[BATCH_COLUMN].nunique()),
            "fingerprint": fingerprint(watermark),
            "forced": force and not added,
        }
        log.info(
            "fetch_data: %d new batches (%d rows); dataset has %d rows%s",
            len(added), rows_added, len(dataset), " (forced full retrain)" if result["forced"] else "",
        )
        return result
