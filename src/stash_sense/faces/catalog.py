"""The face models Stash Sense knows that no PyPI package ships (pure data, no I/O but a stat).

Each entry says which file to expect, how to check it (sha256 and size), what input it takes
and under which licence it may be used. ``stash-sense models`` installs and verifies them; the
embedders only look for the installed file and never fetch anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EDGEFACE_LICENCE = "CC BY-NC-SA 4.0 (non-commercial use only, attribution, share-alike)"
EDGEFACE_CREDIT = (
    "EdgeFace by Anjith George, Christophe Ecabert, Hatef Otroshi Shahreza, Ketan Kotwal and Sébastien "
    "Marcel (Idiap Research Institute), \"EdgeFace: Efficient Face Recognition Model for Edge Devices\", "
    "IEEE Transactions on Biometrics, Behavior, and Identity Science, 2024. Weights from the authors' "
    "int8 releases, dequantised to float32 and exported to ONNX; https://github.com/otroshi/edgeface"
)
EDGEFACE_INPUT = "float32 N x 3 x 112 x 112 RGB in [-1, 1], face aligned to the 112x112 five-point ArcFace template"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str  # the embedder's base name, e.g. "edgeface-xs"
    file: str
    sha256: str
    size: int  # bytes
    licence: str
    commercial_use: bool  # False: installing needs an explicit acceptance of the licence
    credit: str
    input_spec: str
    dim: int
    description: str


CATALOG: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="edgeface-xs",
            file="edgeface_xs.onnx",
            sha256="46a67289ac451e3c5a71cee1b9f0bfc6590f2ee0258051ef9fc98e29e6483dcd",
            size=9_151_395,
            licence=EDGEFACE_LICENCE,
            commercial_use=False,
            credit=EDGEFACE_CREDIT,
            input_spec=EDGEFACE_INPUT,
            dim=512,
            description="EdgeFace-XS (1.77 M parameters, 512-d): the most accurate model Stash Sense runs on CPU",
        ),
        ModelEntry(
            name="edgeface-xxs",
            file="edgeface_xxs.onnx",
            sha256="6bb17eda23c1ac0152d33f644b01c5da3a1e29c64e4261608de100f44b04d484",
            size=5_133_111,
            licence=EDGEFACE_LICENCE,
            commercial_use=False,
            credit=EDGEFACE_CREDIT,
            input_spec=EDGEFACE_INPUT,
            dim=512,
            description="EdgeFace-XXS (1.24 M parameters, 512-d): smaller and faster, a little less accurate",
        ),
    )
}


def catalog_entry(name: str) -> ModelEntry:
    """The entry for a model name (``+flip`` variants share their base model's file)."""
    base = name.removesuffix("+flip")
    try:
        return CATALOG[base]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(CATALOG)}") from None


def installed_path(name: str) -> Path:
    """Where the model's file is (or would be) installed."""
    from ..config import models_dir

    return models_dir() / catalog_entry(name).file


def install_command(name: str) -> str:
    entry = catalog_entry(name)
    return f"stash-sense models install {entry.name}" + ("" if entry.commercial_use else " --accept-licence")


def model_file_installed(name: str) -> bool:
    """Whether the model's file is present with the catalogued size (sha256 is checked on load)."""
    try:
        path = installed_path(name)
        return path.is_file() and path.stat().st_size == catalog_entry(name).size
    except (KeyError, OSError):
        return False
