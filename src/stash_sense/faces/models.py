"""Model base class: lazy, thread-safe loading.

Models are heavy (hundreds of MB, seconds to load) and many entry points never need them
(``--help``, ``db stats``), so nothing is loaded until first use, and concurrent first uses
load once.
"""

from __future__ import annotations

import importlib.util
import threading
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import Any


class ModelLoadError(RuntimeError):
    """A model's files are missing or unreadable."""


class InferenceModel(ABC):
    """Base for every model: subclasses implement ``_load`` and use ``self.model``."""

    name: str = "model"

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def load(self) -> None:
        _ = self.model

    @abstractmethod
    def _load(self) -> Any: ...


@cache
def dlib_models_dir() -> Path:
    """The ``.dat`` files shipped by ``face_recognition_models``.

    Located through importlib rather than the package's own helper, which imports
    ``pkg_resources`` (gone from setuptools >= 81).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "face_recognition_models is not installed; run scripts/setup (pip install face_recognition_models)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models"
    if not path.is_dir():
        raise ModelLoadError(f"dlib model files not found in {path}")
    return path


def dlib_model_file(name: str) -> str:
    path = dlib_models_dir() / name
    if not path.is_file():
        raise ModelLoadError(f"dlib model file missing: {path}")
    return str(path)
