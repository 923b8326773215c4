"""What a wheel ships and how the version is reported (the build itself is checked by hand,
see the README's install section: it needs the package index)."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import stash_sense

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "stash_sense"


def _package_data_patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["setuptools"]["package-data"]["stash_sense"]


def _matches(relative: str, pattern: str) -> bool:
    # setuptools' "**/" also matches no folder at all.
    return fnmatch.fnmatch(relative, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:]))


def test_every_data_file_of_the_package_goes_into_the_wheel() -> None:
    """A data file left out of package-data works from a checkout and breaks a pip install
    (as the shipped calibrations once did)."""
    patterns = _package_data_patterns()
    data_files = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert any(f.startswith("matching/calibrations/") for f in data_files)
    missing = [f for f in data_files if not any(_matches(f, p) for p in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data] of pyproject.toml: {missing}"


def test_version_comes_from_the_installed_metadata() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert stash_sense.__version__ == version("stash-sense") == config["project"]["version"]


def test_cli_prints_the_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "--version"], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == f"stash-sense {stash_sense.__version__}"


def test_slim_requirements_swap_the_gui_opencv_and_leave_mediapipe_out() -> None:
    """The slim set (scripts/setup, the Dockerfile) is pyproject's list with MediaPipe left for a
    --no-deps install and the headless build of the same OpenCV release."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = config["dependencies"]
    script = ROOT / "scripts" / "slim-requirements"

    def run(*args: str) -> list[str]:
        out = subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.splitlines()

    opencv = next(r for r in declared if r.startswith("opencv-contrib-python"))
    slim = run()
    assert "opencv-python-headless" + opencv[len("opencv-contrib-python"):] in slim
    assert not [r for r in slim if r.startswith(("mediapipe", "opencv-contrib-python"))]
    assert len(slim) == len(declared) - 1
    assert run("--mediapipe") == [next(r for r in declared if r.startswith("mediapipe"))]
    assert set(run("--extra", "dev")) - set(slim) == set(config["optional-dependencies"]["dev"])
