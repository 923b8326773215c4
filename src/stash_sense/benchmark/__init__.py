"""The identification benchmark: scenes with known performers from Stash, the real engine,
precision/recall with breakdowns and failure classes, parameter rounds with checkpoints, and
reports. Entry point: :func:`run_benchmark` (``stash-sense benchmark`` on the command line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BenchmarkError", "BenchmarkOptions", "BenchmarkOutcome", "BenchmarkParams", "BenchmarkState", "run_benchmark"]

if TYPE_CHECKING:
    from .errors import BenchmarkError
    from .models import BenchmarkParams, BenchmarkState
    from .runner import BenchmarkOptions, BenchmarkOutcome, run_benchmark


def __getattr__(name: str) -> Any:
    # Lazy: the runner pulls in the scene engine (OpenCV, PyAV), which importers of the data
    # model or of the speed benchmarks do not need.
    if name == "BenchmarkError":
        from .errors import BenchmarkError

        return BenchmarkError
    if name in ("BenchmarkParams", "BenchmarkState"):
        from . import models

        return getattr(models, name)
    if name in ("BenchmarkOptions", "BenchmarkOutcome", "run_benchmark"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)
