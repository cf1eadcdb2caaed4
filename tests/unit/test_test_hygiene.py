"""The suite's own rules, checked on its source: no exact equality on computed floats.

A float computed on one machine can differ in its last bits on another (numpy takes AVX-512 paths on
some CPUs), so a test compares floats with a tolerance. This check finds `==` / `!=` with a float
literal as a direct operand (`x == 0.0`, `x == [1.0, 2.0]`); `pytest.approx(...)` operands are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_float_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, float)
    if isinstance(node, ast.UnaryOp):
        return _is_float_literal(node.operand)
    if isinstance(node, ast.List | ast.Tuple):
        return any(_is_float_literal(element) for element in node.elts)
    if isinstance(node, ast.BinOp):  # [1.0] + [2.0] * n
        return _is_float_literal(node.left) or _is_float_literal(node.right)
    return False


def exact_float_comparisons(source: str) -> list[int]:
    """Line numbers of `==`/`!=` comparisons with a float literal operand."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        equality = isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        if equality and any(_is_float_literal(operand) for operand in (node.left, *node.comparators)):
            lines.append(node.lineno)
    return lines


def test_the_checker_finds_exact_float_comparisons_and_accepts_tolerant_ones():
    source = "assert x == 0.0\nassert y == [1.0] + [2.0] * 3\nassert z == pytest.approx(0.5)\nassert n == 3\n"
    assert exact_float_comparisons(source) == [1, 2]


def test_no_test_compares_floats_exactly():
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in exact_float_comparisons(path.read_text())
    ]
    assert offenders == [], "compare floats with pytest.approx or np.allclose: " + ", ".join(offenders)
