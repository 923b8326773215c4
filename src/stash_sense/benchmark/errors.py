"""The one error type the benchmark raises for bad input or an unusable setup."""

from __future__ import annotations


class BenchmarkError(ValueError):
    """A benchmark that cannot start or continue; the message says why and what to do."""
