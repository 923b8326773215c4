"""The recommendations engine: analyzers that find duplicates in a Stash library, and the
actions that fix them. Findings are stored in ``stash_sense.db`` (:mod:`stash_sense.userdb`)."""

from stash_sense.recommendations.base import AnalysisOutcome, AnalysisStopped, Analyzer, RunControl, run_analysis
from stash_sense.recommendations.registry import ALIASES, ANALYZER_TYPES, build_analyzer, canonical_type

__all__ = [
    "ALIASES",
    "ANALYZER_TYPES",
    "AnalysisOutcome",
    "AnalysisStopped",
    "Analyzer",
    "RunControl",
    "build_analyzer",
    "canonical_type",
    "run_analysis",
]
