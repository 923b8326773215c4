"""Modules stay small and functions short: no source file over 600 lines anywhere, and no
function over 80 lines in the packages that hold the decisions (scenes/, matching/, app/)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "stash_sense"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
SHORT_FUNCTION_PACKAGES = ("scenes", "matching", "app")


def test_no_source_file_over_600_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES}
    assert long == {}


def test_no_long_function_in_the_decision_packages() -> None:
    long: dict[str, int] = {}
    for package in SHORT_FUNCTION_PACKAGES:
        for path in (SRC / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long[f"{path.relative_to(SRC)}:{node.name}"] = length
    assert long == {}
