"""Model management: install, verify and remove the model files no PyPI package ships.

Only an explicit ``stash-sense models install NAME`` ever fetches a model (from
``STASH_SENSE_MODEL_SOURCE``: a folder or an http(s) base URL); the face pipeline only looks
for installed files.
"""

from .store import (
    InstallError,
    LicenceNotAcceptedError,
    ModelStatus,
    install_model,
    model_statuses,
    remove_model,
    verify_model,
)

__all__ = [
    "InstallError",
    "LicenceNotAcceptedError",
    "ModelStatus",
    "install_model",
    "model_statuses",
    "remove_model",
    "verify_model",
]
