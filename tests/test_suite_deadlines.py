"""The suite cannot hang: a test whose process freezes with the GIL held (as a server thread
stuck in a C call does) ends the run with every thread's stack, well before CI's limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent

FROZEN = textwrap.dedent(
    """
    import ctypes, threading, time
    import pytest

    @pytest.mark.timeout(2)
    def test_frozen():
        libc = ctypes.PyDLL(None)  # PyDLL keeps the GIL for the whole C call
        threading.Thread(target=lambda: libc.sleep(120), daemon=True).start()
        time.sleep(120)

    def test_after():
        pass
    """
)


def test_a_frozen_test_ends_the_run_with_stacks(tmp_path: Path) -> None:
    (tmp_path / "test_frozen.py").write_text(FROZEN)
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "STASH_SENSE_TEST_DEADLINE_GRACE": "3"}
    command = [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path), "-p", "conftest", "-p", "no:cacheprovider",
               "-q", str(tmp_path / "test_frozen.py")]
    started = time.monotonic()
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    # pytest-timeout's SIGALRM handler never ran (the GIL was held): the watchdog did, at 2 + 3 s.
    assert "Timeout (0:00:05)!" in done.stderr, done.stderr
    assert "test_frozen.py" in done.stderr and "in <lambda>" in done.stderr  # the stuck thread is named
    assert took < 60, took
