"""YAML loading that remembers where every key and item came from.

PyYAML's constructors drop positions and silently keep the last of duplicate
keys, so specs are composed into nodes first and converted by hand: each
mapping key and sequence item records its ``(file, line, column)`` (1-based)
under its path, and a repeated key is an error rather than a silent override.
Only the safe constructors are used, and only for plain data: a tag other
than the standard scalar ones (on a scalar, a sequence or a mapping) is an
error, so no tag can build a Python object or change what a value means.

Whatever the bytes, :func:`load_yaml` either returns data or raises
:class:`YamlProblem` with a position: text that is not UTF-8, control
characters, scalars the YAML library resolves to a type but cannot build
(``2026-02-30``), nesting deeper than :data:`MAX_DEPTH`, anchors and aliases
that expand past :data:`MAX_NODES` and files larger than :data:`MAX_BYTES`.
The caps keep one pathological file from costing the dag-processor seconds
or memory that the other pipelines need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_factory.exceptions import SpecProblem

try:  # libyaml is several times faster; the dag-processor parses on every loop
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is in the pinned PyYAML wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

#: Largest spec file read, in bytes.  The biggest shipped spec is a few KB.
MAX_BYTES = 1_000_000
#: Deepest nesting of sequences and mappings.
MAX_DEPTH = 64
#: Most values one file may expand to, aliases counted every time they are used.
MAX_NODES = 10_000

_YAML = "tag:yaml.org,2002:"
#: Tags a scalar may carry (implicitly resolved or written out): plain data only.
SCALAR_TAGS = frozenset(f"{_YAML}{t}" for t in ("null", "bool", "int", "float", "str", "timestamp"))
_MAP_TAG = f"{_YAML}map"
_SEQ_TAG = f"{_YAML}seq"
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16",
}
#: Characters YAML does not allow in a stream (yaml.reader.Reader.NON_PRINTABLE, BOM aside).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int


@dataclass
class SourceMap:
    """Positions of every key and item of one or more merged documents."""

    file: str
    positions: dict[Path_, Position] = field(default_factory=dict)

    def lookup(self, path: Path_) -> Position:
        """The position of ``path`` or of its nearest recorded parent."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), Position(self.file, 1, 1))

    def merge_under(self, other: SourceMap, keys: set[str]) -> None:
        """Adopt ``other``'s positions for top-level ``keys`` (defaults merged into a spec)."""
        for path, pos in other.positions.items():
            if path and path[0] in keys:
                self.positions[path] = pos


class YamlProblem(Exception):
    def __init__(self, problem: SpecProblem):
        super().__init__(problem.format())
        self.problem = problem


def _problem(file: str, mark: Any, path: Path_, message: str, error_type: str) -> YamlProblem:
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return YamlProblem(SpecProblem(file, line, column, _dotted(path), message, error_type))


def _position(file: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(file, mark.line + 1, mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


class _Converter:
    """Nodes to plain data with positions, within the depth and expansion caps."""

    def __init__(self, file: str, loader: Any, smap: SourceMap):
        self.file = file
        self.loader = loader
        self.smap = smap
        self.nodes = 0

    def convert(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _problem(self.file, node.start_mark, path,
                           f"the file expands to more than {MAX_NODES} values (anchors and aliases are "
                           f"counted each time they are used); write the values out instead", "yaml_too_large")
        if depth > MAX_DEPTH:
            raise _problem(self.file, node.start_mark, path,
                           f"nesting deeper than {MAX_DEPTH} levels (or an alias that refers to itself)",
                           "yaml_too_deep")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self._bad_tag(node, path, "a sequence")
            items = []
            for index, item_node in enumerate(node.value):
                child = (*path, index)
                self.smap.positions[child] = _position(self.file, item_node)
                items.append(self.convert(item_node, child, depth + 1))
            return items
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            raise self._bad_tag(node, path, "a mapping")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_YAML}merge":
                raise _problem(self.file, key_node.start_mark, path, "YAML merge keys (<<) are not supported",
                               "yaml_merge_key")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _problem(self.file, key_node.start_mark, path,
                               "a key must be a plain value, not a sequence or a mapping", "yaml_complex_key")
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                first = self.smap.positions[child]
                raise _problem(self.file, key_node.start_mark, child,
                               f"duplicate key {key!r} (first defined on line {first.line})", "duplicate_key")
            self.smap.positions[child] = _position(self.file, key_node)
            result[key] = self.convert(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag not in SCALAR_TAGS:
            raise self._bad_tag(node, path, "a value")
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise _problem(self.file, exc.problem_mark or node.start_mark, path,
                           f"cannot read {node.value!r}: {exc.problem}", "yaml_value") from None
        except Exception as exc:  # PyYAML's constructors raise whatever the value provokes
            # The resolver (or an explicit tag) chose a type the value cannot be built as.
            kind = _short_tag(node.tag)[2:]
            article = "an" if kind[0] in "aeiou" else "a"
            raise _problem(self.file, node.start_mark, path,
                           f"cannot read {node.value!r} as {article} {kind}: {exc}"
                           + (" (quote it to keep it as text)" if kind != "str" else ""),
                           "yaml_value") from None

    def _bad_tag(self, node: yaml.Node, path: Path_, what: str) -> YamlProblem:
        return _problem(self.file, node.start_mark, path,
                        f"tag {_short_tag(node.tag)!r} is not allowed on {what}: specs hold plain data only",
                        "yaml_tag")


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode(data: bytes, file: str) -> str:
    """Spec bytes as text: UTF-8 (a UTF-8 BOM is allowed), no control characters."""
    if len(data) > MAX_BYTES:
        raise YamlProblem(SpecProblem(file, 1, 1, "", f"the file is {len(data)} bytes; a spec may be at most "
                                      f"{MAX_BYTES} bytes", "file_too_large"))
    for bom, encoding in _BOMS.items():
        if data.startswith(bom):
            raise YamlProblem(SpecProblem(file, 1, 1, "", f"the file is {encoding}-encoded; save it as UTF-8",
                                          "encoding"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, column = _line_col(good, len(good))
        raise YamlProblem(SpecProblem(file, line, column, "",
                                      f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
                                      "encoding")) from None
    return check_text(text, file)


def check_text(text: str, file: str) -> str:
    """``text`` without a leading BOM, refused when too large or holding characters YAML forbids."""
    if len(text) > MAX_BYTES:
        raise YamlProblem(SpecProblem(file, 1, 1, "", f"the file is {len(text)} characters; a spec may be at "
                                      f"most {MAX_BYTES} bytes", "file_too_large"))
    text = text.removeprefix("\ufeff")
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line, column = _line_col(text, bad.start())
        raise YamlProblem(SpecProblem(file, line, column, "",
                                      f"control character U+{ord(bad.group()):04X} is not allowed in a spec",
                                      "encoding"))
    return text


def read_text(path: Path | str, *, display: str | None = None) -> str:
    """A spec file's text, read within :data:`MAX_BYTES` and checked by :func:`decode`."""
    file = display or str(path)
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            data += handle.read()  # only to say how large it is; bounded by what is on disk
    return decode(data, file)


def _check_events(text: str, file: str) -> None:
    """Walk the event stream once (no recursion) to refuse too-deep or too-large files before composing."""
    loader = _Loader(text)
    depth = values = 0
    try:
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.NodeEvent):
                values += 1
                if values > MAX_NODES:
                    raise _problem(file, event.start_mark, (), f"the file holds more than {MAX_NODES} values",
                                   "yaml_too_large")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _problem(file, event.start_mark, (), f"nesting deeper than {MAX_DEPTH} levels",
                                   "yaml_too_deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif event is None or isinstance(event, yaml.StreamEndEvent):
                return
    finally:
        loader.dispose()


def load_yaml(path: Path | str, text: str | None = None, *, display: str | None = None) -> tuple[Any, SourceMap]:
    """Load one YAML document with its source map.

    Raises :class:`YamlProblem` (with a 1-based position) for anything that
    keeps the file from being plain data: unreadable bytes, syntax errors,
    tags, duplicate keys, impossible values and the size caps.
    """
    file = display or str(path)
    text = read_text(path, display=file) if text is None else check_text(text, file)
    smap = SourceMap(file)
    try:
        _check_events(text, file)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, smap
            smap.positions[()] = _position(file, node)
            return _Converter(file, loader, smap).convert(node, ()), smap
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        raise _problem(file, mark, (), f"YAML syntax error: {message}", "yaml_syntax") from None
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, min(exc.position, len(text)))
        raise YamlProblem(SpecProblem(file, line, column, "", f"YAML error: {exc.reason}", "yaml_syntax")) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(SpecProblem(file, 1, 1, "", f"YAML error: {exc}", "yaml_syntax")) from None
    except RecursionError:
        raise YamlProblem(SpecProblem(file, 1, 1, "", f"nesting deeper than {MAX_DEPTH} levels",
                                      "yaml_too_deep")) from None
