"""Plain lineage records and the naming of every system the stages touch.

Names follow OpenLineage's dataset naming (namespace = the data source as
``scheme://authority``, name = the dataset's path inside it) where the spec
names the system, and the same shape where it does not:

===================  ==============================  ======================================
system               namespace                       name
===================  ==============================  ======================================
files (snapshot,     ``file``                        the absolute path
workspace, folders)
NCBI E-utilities     ``https://eutils.ncbi.nlm.nih.gov``  ``/entrez/eutils/esearch.fcgi?db=pubmed&term=...``
Neo4j                ``neo4j://host:port``           ``{database}.{Label}``
Qdrant server        ``qdrant://host:port``          the collection
Qdrant embedded      ``file``                        ``{data dir}/qdrant/collection/{collection}``
the ledger           ``postgres://host:port``        ``{database}.public.{table}``
                     ``sqlite://{path}``             ``{table}``
MLflow models        the tracking URI                ``registered_models/{name}``
HTTP sources         ``scheme://host[:port]``        the path
===================  ==============================  ======================================

Credentials never reach a name: user info, passwords and query strings of
connection URLs are dropped before a URL becomes a namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

FILE_NAMESPACE = "file"


@dataclass(frozen=True)
class LineageDataset:
    """One dataset as a stage sees it: where it lives, and what is known of its shape and size."""

    namespace: str
    name: str
    #: ``(column, type)`` pairs when the columns are known (a schema facet).
    fields: tuple[tuple[str, str], ...] = ()
    #: Rows (or points, nodes, records) written by this run: output statistics.
    row_count: int | None = None
    #: Bytes written by this run, where a file was written.
    size: int | None = None

    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fields"] = [list(pair) for pair in self.fields]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LineageDataset:
        return cls(
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            fields=tuple((str(a), str(b)) for a, b in data.get("fields") or ()),
            row_count=data.get("row_count"),
            size=data.get("size"),
        )


@dataclass(frozen=True)
class StageLineage:
    """What one stage run reads and writes."""

    inputs: tuple[LineageDataset, ...] = ()
    outputs: tuple[LineageDataset, ...] = ()

    def __add__(self, other: StageLineage) -> StageLineage:
        return StageLineage(_merge(self.inputs, other.inputs), _merge(self.outputs, other.outputs))

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [d.to_json() for d in self.inputs], "outputs": [d.to_json() for d in self.outputs]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageLineage:
        return cls(
            inputs=tuple(LineageDataset.from_json(d) for d in data.get("inputs") or ()),
            outputs=tuple(LineageDataset.from_json(d) for d in data.get("outputs") or ()),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)


def lineage(inputs: Iterable[LineageDataset] = (), outputs: Iterable[LineageDataset] = ()) -> StageLineage:
    """A :class:`StageLineage` with duplicates (same namespace and name) merged."""
    return StageLineage(_merge((), tuple(inputs)), _merge((), tuple(outputs)))


def _merge(first: tuple[LineageDataset, ...], second: tuple[LineageDataset, ...]) -> tuple[LineageDataset, ...]:
    """Later records of the same dataset fill in what the earlier ones did not know."""
    merged: dict[tuple[str, str], LineageDataset] = {}
    for dataset in (*first, *second):
        old = merged.get(dataset.key())
        if old is None:
            merged[dataset.key()] = dataset
        else:
            merged[dataset.key()] = LineageDataset(
                dataset.namespace,
                dataset.name,
                fields=dataset.fields or old.fields,
                row_count=dataset.row_count if dataset.row_count is not None else old.row_count,
                size=dataset.size if dataset.size is not None else old.size,
            )
    return tuple(merged.values())


# -- naming -------------------------------------------------------------------------------


def _authority(url: str, default_port: int | None = None) -> tuple[str, str]:
    """``(scheme, host[:port])`` of a URL with any user info dropped."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port or default_port
    return parts.scheme, f"{host}:{port}" if port else host


def file_dataset(path: str | Path, **facts: Any) -> LineageDataset:
    """A file or folder: namespace ``file``, name its absolute path."""
    return LineageDataset(FILE_NAMESPACE, str(Path(path).absolute()), **facts)


def http_dataset(url: str, **facts: Any) -> LineageDataset:
    """An HTTP resource: namespace ``scheme://host[:port]``, name its path (the query is dropped: it may hold keys)."""
    scheme, authority = _authority(url)
    return LineageDataset(f"{scheme}://{authority}", urlsplit(url).path or "/", **facts)


def eutils_dataset(base_url: str, endpoint: str, query: Mapping[str, str], **facts: Any) -> LineageDataset:
    """An E-utilities query: the endpoint's path and the query that selects the records (never the API key)."""
    scheme, authority = _authority(base_url)
    path = urlsplit(base_url).path.rstrip("/")
    return LineageDataset(
        f"{scheme}://{authority}", f"{path}/{endpoint}?{urlencode(dict(query), quote_via=quote)}", **facts
    )


def neo4j_dataset(uri: str, database: str | None, label: str, **facts: Any) -> LineageDataset:
    """Nodes of one label in one Neo4j database: ``neo4j://host:port``, ``{database}.{Label}``."""
    _, authority = _authority(uri, default_port=7687)
    return LineageDataset(f"neo4j://{authority}", f"{database or 'neo4j'}.{label}", **facts)


def qdrant_dataset(url: str | None, local_path: Path, collection: str, **facts: Any) -> LineageDataset:
    """A Qdrant collection: on a server ``qdrant://host:port``; embedded, the collection's folder."""
    if url:
        _, authority = _authority(url, default_port=6333)
        return LineageDataset(f"qdrant://{authority}", collection, **facts)
    return file_dataset(Path(local_path) / "collection" / collection, **facts)


def sql_table_dataset(url: str, table: str, **facts: Any) -> LineageDataset:
    """A table behind a SQLAlchemy URL: Postgres as OpenLineage names it; SQLite by its file."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        return LineageDataset(f"sqlite://{Path(path or ':memory:').absolute()}", table, **facts)
    if scheme in ("postgresql", "postgres"):
        _, authority = _authority(url, default_port=5432)
        database = parts.path.lstrip("/") or "postgres"
        return LineageDataset(f"postgres://{authority}", f"{database}.public.{table}", **facts)
    _, authority = _authority(url)
    return LineageDataset(f"{scheme}://{authority}", f"{parts.path.lstrip('/')}.{table}", **facts)


def mlflow_model_dataset(tracking_uri: str, model: str, **facts: Any) -> LineageDataset:
    """A registered model: namespace the tracking server (or its store), name ``registered_models/{name}``."""
    if "://" in tracking_uri and not tracking_uri.startswith(("file:", "sqlite:")):
        scheme, authority = _authority(tracking_uri)
        namespace = f"{scheme}://{authority}"
    else:
        namespace = tracking_uri.split("?", 1)[0]
    return LineageDataset(namespace, f"registered_models/{model}", **facts)
