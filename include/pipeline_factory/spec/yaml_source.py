"""YAML loading that remembers where every key and item came from.

PyYAML's constructors drop positions and silently keep the last of duplicate
keys, so specs are composed into nodes first and converted by hand: each
mapping key and sequence item records its ``(file, line, column)`` (1-based)
under its path, and a repeated key is an error rather than a silent override.
Only the safe constructors are used: no tag can build a Python object.
"""

from __future__ import annotations

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


def _position(file: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(file, mark.line + 1, mark.column + 1)


def _convert(node: yaml.Node, path: Path_, file: str, loader: Any, smap: SourceMap) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    SpecProblem(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                _dotted(path), "YAML merge keys (<<) are not supported", "yaml_merge_key")
                )
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                first = smap.positions[child]
                raise YamlProblem(
                    SpecProblem(
                        file, key_node.start_mark.line + 1, key_node.start_mark.column + 1, _dotted(child),
                        f"duplicate key {key!r} (first defined on line {first.line})", "duplicate_key",
                    )
                )
            smap.positions[child] = _position(file, key_node)
            result[key] = _convert(value_node, child, file, loader, smap)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            smap.positions[child] = _position(file, item_node)
            items.append(_convert(item_node, child, file, loader, smap))
        return items
    return loader.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def load_yaml(path: Path | str, text: str | None = None, *, display: str | None = None) -> tuple[Any, SourceMap]:
    """Load one YAML document with its source map.

    Raises :class:`YamlProblem` for syntax errors, unknown tags and duplicate
    keys, with a 1-based position.
    """
    file = display or str(path)
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    smap = SourceMap(file)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, smap
        smap.positions[()] = _position(file, node)
        return _convert(node, (), file, loader, smap), smap
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        raise YamlProblem(SpecProblem(file, line, column, "", f"YAML syntax error: {message}", "yaml_syntax")) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(SpecProblem(file, 1, 1, "", f"YAML error: {exc}", "yaml_syntax")) from None
    finally:
        loader.dispose()
