"""What a wheel ships and how the version is reported. A wheel is built here from the sources
alone, with this environment's setuptools; installing one with its dependencies needs the
package index and is checked by hand (see the README's install section)."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import yaml

import stash_sense
from stash_sense.plugin_bundle import packaged_plugin

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


def test_the_wheel_ships_the_stash_plugin_and_plugin_build_needs_no_checkout(tmp_path: Path) -> None:
    """Built from pyproject.toml, README.md and src/ alone (what the image build sees), the wheel
    holds the Stash plugin; ``plugin build`` run from the unpacked wheel, with no checkout
    around, writes the same zip as the sidecar's plugin source here."""
    tree = tmp_path / "tree"
    (tree / "src").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(PACKAGE, tree / "src" / "stash_sense", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))", str(tmp_path / "dist")],
        cwd=tree, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = tmp_path / "dist" / built.stdout.strip().splitlines()[-1]
    plugin_files = {"stash-sense.yml", "stash-sense.js", "stash-sense-recommendations.js", "stash-sense.css", "stash_sense_backend.py"}
    with zipfile.ZipFile(wheel) as archive:
        assert {f"stash_sense/plugin/{name}" for name in plugin_files} <= set(archive.namelist())
        archive.extractall(tmp_path / "installed")

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "installed")}
    script = "import stash_sense, sys; print(stash_sense.__file__, file=sys.stderr); from stash_sense.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "plugin", "build", "--out", str(tmp_path / "site")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "installed") in done.stderr  # the unpacked wheel's copy, not the checkout's
    entry = yaml.safe_load((tmp_path / "site" / "index.yml").read_text())[0]
    data = (tmp_path / "site" / entry["path"]).read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() == packaged_plugin().sha256
    assert entry["version"] == stash_sense.__version__
