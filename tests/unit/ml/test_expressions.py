"""Derived-feature expressions: arithmetic over columns and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_factory.stages.ml.expressions import ExpressionError, columns_used, evaluate

COLUMNS = {"a": np.array([1.0, 4.0]), "b": np.array([2.0, 8.0])}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a / b", [0.5, 0.5]),
        ("a * 2 + b ** 2", [6.0, 72.0]),
        ("-a + +b", [1.0, 4.0]),
        ("sqrt(a)", [1.0, 2.0]),
        ("log1p(a - 1)", [0.0, np.log(4.0)]),
        ("abs(a - b)", [1.0, 4.0]),
    ],
)
def test_arithmetic_and_whitelisted_functions(expression, expected):
    assert np.allclose(evaluate(expression, COLUMNS), expected)


@pytest.mark.parametrize(
    "expression",
    ["a.__class__", "__import__('os')", "open('x')", "a[0]", "[a, b]", "a if b else a", "lambda: a", "a < b",
     "sqrt(a, b)", "True + a", "'x'"],
)
def test_anything_else_is_rejected(expression):
    with pytest.raises(ExpressionError):
        evaluate(expression, COLUMNS)


def test_unknown_column_is_named():
    with pytest.raises(ExpressionError, match="unknown column 'c'"):
        evaluate("a + c", COLUMNS)


def test_columns_used_ignores_function_names():
    assert columns_used("log(a) / sqrt(b) + a") == {"a", "b"}
