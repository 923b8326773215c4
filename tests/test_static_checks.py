"""Static checks run with the suite: ruff over src/ and tests/, mypy strict on the typed packages.

Both tools come with the dev extra (``pip install -e '.[dev]'``, or scripts/setup); where one is
missing its test is skipped with a message rather than failed. The configuration lives in
pyproject.toml ([tool.ruff], [tool.mypy]).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Packages held to the strict standard: mypy's strict overrides in pyproject.toml, plus import
# sorting and the 140-column limit in ruff. Add a package here and to the strict [[tool.mypy.overrides]] module list.
STRICT_PACKAGES = ["stash_sense.faces", "stash_sense.matching", "stash_sense.app", "stash_sense.api"]

RUFF_TIMEOUT_S = 120
MYPY_TIMEOUT_S = 600  # a cold run follows imports into most of the package


def _tool(module: str) -> list[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed; install the dev extra (pip install -e '.[dev]') to run this check")
    return [sys.executable, "-m", module]


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        output = "".join(_text(part) for part in (exc.stdout, exc.stderr))
        pytest.fail(f"`{' '.join(command)}` did not finish within {timeout} s:\n{output}")


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries bytes (even with text=True) or nothing.
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    command = " ".join(result.args)
    assert result.returncode == 0, f"`{command}` exited with {result.returncode}:\n{result.stdout}{result.stderr}"


def _package_dir(package: str) -> str:
    return str(Path("src", *package.split(".")))


def test_ruff_passes_on_src_and_tests() -> None:
    _assert_clean(_run([*_tool("ruff"), "check", "--output-format", "concise", "src", "tests"], RUFF_TIMEOUT_S))


def test_ruff_sorts_imports_and_keeps_lines_short_in_strict_packages() -> None:
    command = [
        *_tool("ruff"),
        "check",
        "--output-format",
        "concise",
        "--extend-select",
        "I",
        "--config",
        "lint.pycodestyle.max-line-length=140",
        *(_package_dir(p) for p in STRICT_PACKAGES),
    ]
    _assert_clean(_run(command, RUFF_TIMEOUT_S))


def test_mypy_strict_passes() -> None:
    command = [*_tool("mypy"), *(arg for p in STRICT_PACKAGES for arg in ("-p", p))]
    _assert_clean(_run(command, MYPY_TIMEOUT_S))


def test_strict_list_matches_the_mypy_overrides() -> None:
    """The packages above and the strict overrides in pyproject.toml name the same modules."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    overrides = config["tool"]["mypy"]["overrides"]
    strict = [o for o in overrides if o.get("disallow_untyped_defs")]
    assert len(strict) == 1, "expected one strict [[tool.mypy.overrides]] section"
    assert sorted(strict[0]["module"]) == sorted(f"{p}.*" for p in STRICT_PACKAGES)
