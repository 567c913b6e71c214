"""A local OpenLineage receiver: the HTTP transport's endpoint, checking every event it gets.

A stand-in for Marquez (or any OpenLineage backend) for tests and for trying
lineage on one machine: it accepts ``POST /api/v1/lineage`` (one JSON event per
request, as the OpenLineage HTTP transport sends them), checks each event
against the models ``openlineage-python`` generates from OpenLineage's JSON
schemas, keeps the valid ones (and appends them to a JSON-lines file if asked)
and answers 400 with the reason for an invalid one.

What is checked: the event itself, its run, job and datasets, and each facet
whose ``_schemaURL`` names a facet the client knows (schema, outputStatistics,
parent, jobType, ...), field by field with their types and the models' own
validators (UUID run ids, ISO times, URIs); a facet the client does not know
(the Airflow provider's own) is checked as the base facet it declares.

Run: ``python -m pipeline_factory.devservers.lineage_receiver --port 5050 --out events.jsonl``,
then ``OPENLINEAGE_URL=http://localhost:5050``.
"""


from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import json
import pkgutil
import sys
import threading
import types
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attr

# -- validation against the client's generated models ---------------------------------------


def _facet_classes() -> dict[str, type]:
    """``{definition name: class}`` for every facet the client generates (``...json#/$defs/<name>``)."""
    import openlineage.client.generated as generated
    from openlineage.client.generated.base import BaseFacet

    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if attr.has(cls) and issubclass(cls, BaseFacet) and cls.__module__ == module.__name__:
                found[cls._get_schema().rsplit("/", 1)[-1]] = cls
    return found


FACETS = _facet_classes()


class EventInvalid(ValueError):
    """An event that breaks OpenLineage's schema; the message names the field (``event.run.runId: ...``)."""


def _check_type(value: Any, hint: Any, path: str) -> Any:
    """``value`` built into ``hint`` (an attrs class, a container, an enum or a JSON scalar), or EventInvalid."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, path)
            except EventInvalid as exc:
                errors.append(str(exc))
        raise EventInvalid("; ".join(errors))
    if origin is list:
        if not isinstance(value, list):
            raise EventInvalid(f"{path}: expected an array, got {type(value).__name__}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_check_type(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise EventInvalid(f"{path}: expected an object, got {type(value).__name__}")
        _, item = typing.get_args(hint) or (str, Any)
        return {k: _check_type(v, item, f"{path}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise EventInvalid(f"{path}: {value!r} is not one of {[m.value for m in hint]}") from None
    if isinstance(hint, type) and attr.has(hint):
        return _build(hint, value, path)
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise EventInvalid(f"{path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
    return value


def _absolute_uri(value: Any) -> bool:
    """JSON Schema's ``format: uri``: a scheme, then something (the models' own check accepts any string)."""
    from urllib.parse import urlsplit

    return isinstance(value, str) and bool(urlsplit(value).scheme) and len(value) > len(urlsplit(value).scheme) + 1


def _hint(cls: type, field: Any) -> Any:
    """A field's annotation as a type (the generated modules use postponed annotations)."""
    if not isinstance(field.type, str):
        return field.type if field.type is not None else Any
    for klass in cls.__mro__:  # the module that declared the field resolves its names
        namespace = {**vars(typing), **vars(importlib.import_module(klass.__module__))}
        try:  # the annotation strings of an installed, generated package, evaluated as typing would
            return eval(field.type, namespace)
        except NameError:
            continue
    return Any


def _build(cls: type, data: Any, path: str) -> Any:
    """One model instance from ``data``: required fields present, every known field of its type."""
    from openlineage.client.generated.base import BaseFacet

    if not isinstance(data, dict):
        raise EventInvalid(f"{path}: expected an object, got {type(data).__name__}")
    if issubclass(cls, BaseFacet):
        # A facet names its own definition; one the client knows is checked as that model.
        url = data.get("_schemaURL")
        if not isinstance(url, str) or "#/$defs/" not in url:
            raise EventInvalid(f"{path}: a facet needs a _schemaURL pointing into a schema, got {url!r}")
        if not _absolute_uri(data.get("_producer")):
            raise EventInvalid(f"{path}._producer: an absolute URI is required, got {data.get('_producer')!r}")
        named = FACETS.get(url.rsplit("/", 1)[-1])
        if named is not None:
            if not issubclass(named, cls):
                raise EventInvalid(f"{path}: a {named.__name__} where a {cls.__name__} belongs")
            cls = named
    kwargs: dict[str, Any] = {}
    for field in attr.fields(cls):
        if field.name not in data:  # JSON keys are the field names (``_producer`` included)
            if field.default is attr.NOTHING:
                raise EventInvalid(f"{path}.{field.name}: required")
            continue
        if field.name in ("_producer", "_schemaURL"):
            continue  # the class sets its own; their presence is checked above
        value = _check_type(data[field.name], _hint(cls, field), f"{path}.{field.name}")
        if field.init:
            kwargs[field.alias or field.name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # the models' own validators (UUIDs, times, URIs)
        raise EventInvalid(f"{path}: {exc}") from exc


def validate_event(event: dict[str, Any]) -> Any:
    """The event as the client's ``RunEvent`` (raising EventInvalid where it breaks the schema)."""
    from openlineage.client.event_v2 import RunEvent

    for key in ("eventTime", "producer", "schemaURL", "run", "job"):
        if key not in event:
            raise EventInvalid(f"event.{key}: required")
    for key in ("producer", "schemaURL"):
        if not _absolute_uri(event[key]):
            raise EventInvalid(f"event.{key}: an absolute URI is required, got {event[key]!r}")
    if not str(event["schemaURL"]).endswith("#/$defs/RunEvent"):
        raise EventInvalid(f"event.schemaURL: not a RunEvent schema: {event['schemaURL']}")
    for datasets in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(datasets) or []):
            for key in ("namespace", "name"):
                if not isinstance(dataset.get(key), str) or not dataset[key]:
                    raise EventInvalid(f"event.{datasets}[{i}].{key}: a non-empty string is required")
    return _build(RunEvent, event, "event")


def dataset_keys(datasets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """``{(namespace, name)}`` of an event's inputs or outputs."""
    return {(d["namespace"], d["name"]) for d in datasets}


# -- the receiver ---------------------------------------------------------------------------


class LineageReceiver:
    """Accepts ``POST /api/v1/lineage``; keeps every event, and every one that failed validation."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, out: Path | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.out = out
        self.invalid: list[tuple[dict[str, Any] | str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/api/v1/lineage":
                    self.send_response(404)
                    self.end_headers()
                    return
                try:
                    event = json.loads(body)
                except ValueError:
                    receiver._record_invalid(body.decode(errors="replace"), "not JSON")
                    self.send_response(400)
                    self.end_headers()
                    return
                try:
                    validate_event(event)
                except EventInvalid as exc:
                    receiver._record_invalid(event, str(exc))
                    self.send_response(400)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(str(exc).encode())
                    return
                else:
                    receiver._record(event)
                    self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def task_events(self, dag_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """``{task_id: {eventType: event}}`` of one DAG's task runs (job ``<dag_id>.<task_id>``)."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        with self._lock:
            for event in self.events:
                name = event["job"]["name"]
                if name.startswith(f"{dag_id}."):
                    found.setdefault(name.removeprefix(f"{dag_id}."), {})[event["eventType"]] = event
        return found

    def dag_events(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG run's own events (job ``<dag_id>``), in the order they arrived."""
        with self._lock:
            return [e for e in self.events if e["job"]["name"] == dag_id]

    def _record(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)
            if self.out is not None:
                with self.out.open("a") as handle:
                    handle.write(json.dumps(event, sort_keys=True) + "\n")

    def _record_invalid(self, event: dict[str, Any] | str, reason: str) -> None:
        with self._lock:
            self.invalid.append((event, reason))

    def __enter__(self) -> LineageReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_factory.devservers.lineage_receiver",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--out", type=Path, default=None, help="Append every valid event to this JSON-lines file.")
    args = parser.parse_args(argv)
    receiver = LineageReceiver(args.host, args.port, args.out)
    print(f"OpenLineage receiver on {receiver.url}/api/v1/lineage", flush=True)
    try:
        receiver._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
