"""Checks on embedding vectors shared by the writer and the reader."""

from __future__ import annotations

import numpy as np

# Embeddings of a "normalized" model must have unit length within this tolerance; a larger
# deviation means the vectors came from a different preprocessing path (or a different model).
NORM_TOLERANCE = 1e-3


def check_unit_norm(vectors: np.ndarray, what: str) -> None:
    """Raise ``ValueError`` unless every row of ``vectors`` (n, d) has unit L2 norm."""
    norms = np.linalg.norm(vectors, axis=1)
    if not len(norms):
        return
    deviation = np.abs(norms - 1.0)
    worst = int(np.argmax(deviation))
    if deviation[worst] > NORM_TOLERANCE:
        raise ValueError(f"{what} must be L2-normalised for this model, but a vector has norm {norms[worst]:.4f}")
