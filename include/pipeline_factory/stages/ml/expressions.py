"""Derived-feature expressions: arithmetic over columns, nothing else.

A spec may say ``derived: {area_per_radius: "worst_area / worst_radius"}``.
Expressions are parsed with :mod:`ast` and evaluated against a whitelist
(column names, numbers, ``+ - * / **``, unary minus and a few numpy
functions), so YAML can never reach Python objects: no attributes, no
subscripts, no calls other than the listed functions.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_FUNCTIONS = ("log", "log1p", "sqrt", "abs", "exp")


class ExpressionError(ValueError):
    """An expression uses something outside the whitelist, or an unknown column."""


def columns_used(expression: str) -> set[str]:
    tree = _parse(expression)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _FUNCTIONS}


def _parse(expression: str) -> ast.Expression:
    try:
        return ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{expression!r} is not a valid expression: {exc.msg}") from exc


def evaluate(expression: str, columns: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` with column names bound to array-likes."""
    import numpy as np

    functions = {name: getattr(np, name) for name in _FUNCTIONS}

    def visit(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](visit(node.left), visit(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = visit(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(
            node.value, bool
        ):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise ExpressionError(f"{expression!r} names the unknown column {node.id!r}")
            return columns[node.id]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in functions
            and len(node.args) == 1
            and not node.keywords
        ):
            return functions[node.func.id](visit(node.args[0]))
        raise ExpressionError(
            f"{expression!r}: {type(node).__name__} is not allowed "
            f"(use column names, numbers, + - * / ** and {', '.join(_FUNCTIONS)})"
        )

    return visit(_parse(expression))
