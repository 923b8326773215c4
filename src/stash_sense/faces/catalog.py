"""Every face embedder Stash Sense knows, one entry each (pure data, no I/O but a stat).

An entry declares everything about its embedder: the runtime that runs it, its model file
(name, sha256, size, and whether ``stash-sense models install`` fetches it or a PyPI package
ships it), the licence and credit, the input it takes, its vector length, and per variant (the
model as is, and ``+flip``, which averages each chip's vector with its mirror image's) the
calibration file in ``matching/calibrations/`` and the scene distance ceiling. Adding an
embedder is one entry here plus its calibration files; the rest of the code reads this table.

``stash-sense models`` installs and verifies the installable files; the embedders only look for
the installed file and never fetch anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import embedder_setting, models_dir

Runtime = Literal["dlib", "onnx"]
"""What runs the model: dlib's ResNet descriptor, or ONNX Runtime (an ArcFace-style model)."""

EDGEFACE_LICENCE = "CC BY-NC-SA 4.0 (non-commercial use only, attribution, share-alike)"
EDGEFACE_CREDIT = (
    "EdgeFace by Anjith George, Christophe Ecabert, Hatef Otroshi Shahreza, Ketan Kotwal and Sébastien "
    "Marcel (Idiap Research Institute), \"EdgeFace: Efficient Face Recognition Model for Edge Devices\", "
    "IEEE Transactions on Biometrics, Behavior, and Identity Science, 2024. Weights from the authors' "
    "int8 releases, dequantised to float32 and exported to ONNX; https://github.com/otroshi/edgeface"
)
EDGEFACE_INPUT = "float32 N x 3 x 112 x 112 RGB in [-1, 1], face aligned to the 112x112 five-point ArcFace template"


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to run an embedder: the name face DBs and ``STASH_SENSE_EMBEDDER`` use."""

    name: str  # e.g. "edgeface-xs+flip"
    flip: bool  # average each chip's vector with its mirror image's (twice the cost)
    calibration: str  # the calibration file in matching/calibrations/
    # The distance ceiling a scene uses when the caller leaves ``max_distance`` unset (None:
    # SceneParams' own 0.6, dlib's same-person tolerance).
    scene_max_distance: float | None = None


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str  # the embedder's base name, e.g. "edgeface-xs"
    runtime: Runtime
    file: str
    sha256: str
    size: int  # bytes
    # True: ``stash-sense models install`` fetches the file into the models directory; False: a
    # PyPI package ships it (nothing to install).
    installable: bool
    licence: str
    commercial_use: bool  # False: installing needs an explicit acceptance of the licence
    credit: str
    input_spec: str
    dim: int
    description: str
    variants: tuple[Variant, ...]


CATALOG: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="dlib-resnet-v1",
            runtime="dlib",
            file="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            size=22_466_066,
            installable=False,  # shipped by the face_recognition_models package
            licence="Boost Software License (dlib)",
            commercial_use=True,
            credit="dlib's ResNet-29 face descriptor by Davis E. King (99.38% on LFW as published); http://dlib.net",
            input_spec="uint8 150 x 150 RGB chip cut by dlib from its 5-point landmarks with padding 0.25",
            dim=128,
            description="dlib's ResNet descriptor, 128-d",
            variants=(
                Variant("dlib-resnet-v1", flip=False, calibration="dlib-resnet-v1.json"),
                Variant("dlib-resnet-v1+flip", flip=True, calibration="dlib-resnet-v1_flip.json"),
            ),
        ),
        ModelEntry(
            name="edgeface-xs",
            runtime="onnx",
            file="edgeface_xs.onnx",
            sha256="46a67289ac451e3c5a71cee1b9f0bfc6590f2ee0258051ef9fc98e29e6483dcd",
            size=9_151_395,
            installable=True,
            licence=EDGEFACE_LICENCE,
            commercial_use=False,
            credit=EDGEFACE_CREDIT,
            input_spec=EDGEFACE_INPUT,
            dim=512,
            description="EdgeFace-XS (1.77 M parameters, 512-d): the most accurate model Stash Sense runs on CPU",
            variants=(
                # EdgeFace distances run on another scale than dlib's: a performer's own faces in
                # a scene match within ~0.47, while faces that are occluded or cut off gather
                # around a few "hub" strangers of the gallery at 0.47-0.53 with a confident score
                # (the single-photo calibration sees a clear margin to the next performer). Fitted
                # on a tuning scene library only: 40 scenes (seed 7) rendered from lfw/tuning, the
                # 144 identities with 6 photos as performers (3 in the gallery, 3 shown), the other
                # tuning identities split into 1,902 gallery distractors and 1,902 unknown people;
                # DB of 2,046 performers. Sweeping the ceiling with the default parameters,
                # 0.47-0.49 keeps every performer (recall 1.000, 144 of 144) and removes the most
                # false positives (9 -> 4, precision 0.941 -> 0.973); 0.48 is that range's middle.
                Variant("edgeface-xs", flip=False, calibration="edgeface-xs.json", scene_max_distance=0.48),
                # Not fitted: keeps SceneParams' 0.6.
                Variant("edgeface-xs+flip", flip=True, calibration="edgeface-xs_flip.json"),
            ),
        ),
        ModelEntry(
            name="edgeface-xxs",
            runtime="onnx",
            file="edgeface_xxs.onnx",
            sha256="6bb17eda23c1ac0152d33f644b01c5da3a1e29c64e4261608de100f44b04d484",
            size=5_133_111,
            installable=True,
            licence=EDGEFACE_LICENCE,
            commercial_use=False,
            credit=EDGEFACE_CREDIT,
            input_spec=EDGEFACE_INPUT,
            dim=512,
            description="EdgeFace-XXS (1.24 M parameters, 512-d): smaller and faster, a little less accurate",
            variants=(
                Variant("edgeface-xxs", flip=False, calibration="edgeface-xxs.json"),
                Variant("edgeface-xxs+flip", flip=True, calibration="edgeface-xxs_flip.json"),
            ),
        ),
    )
}

# The embedder used when nothing is configured: its model file ships with the package.
DEFAULT_EMBEDDER = "dlib-resnet-v1"
# Used by default instead once its model file is installed.
PREFERRED_EMBEDDER = "edgeface-xs"

# Every variant by name, in catalog order.
_VARIANTS: dict[str, tuple[ModelEntry, Variant]] = {v.name: (e, v) for e in CATALOG.values() for v in e.variants}
EMBEDDER_NAMES: tuple[str, ...] = tuple(_VARIANTS)
"""Every embedder name this build knows (variants included)."""
# The models ``stash-sense models`` installs, verifies and removes.
INSTALLABLE: dict[str, ModelEntry] = {name: e for name, e in CATALOG.items() if e.installable}


def embedder_variant(name: str) -> tuple[ModelEntry, Variant]:
    """The entry and variant of an embedder name (``ValueError`` for a name this build does not know)."""
    try:
        return _VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown face embedder {name!r}; known: {', '.join(EMBEDDER_NAMES)}") from None


def variant_name(base: str, flip: bool) -> str:
    """The name of the base model's variant with (or without) the mirror average."""
    for variant in catalog_entry(base).variants:
        if variant.flip == flip:
            return variant.name
    raise ValueError(f"{base} has no variant with flip={flip}")


def scene_max_distance(name: str) -> float | None:
    """The scene distance ceiling of an embedder (None: unknown name, or no ceiling of its own)."""
    found = _VARIANTS.get(name)
    return found[1].scene_max_distance if found else None


def scene_ceilings() -> dict[str, float]:
    """Every embedder with a scene distance ceiling of its own: name -> ceiling."""
    return {name: v.scene_max_distance for name, (_, v) in _VARIANTS.items() if v.scene_max_distance is not None}


def calibration_file(name: str) -> str:
    """The calibration file shipped for an embedder (``KeyError`` when none is)."""
    found = _VARIANTS.get(name)
    if found is None:
        raise KeyError(f"no calibration shipped for embedding model {name!r}")
    return found[1].calibration


def _entry(name: str) -> ModelEntry | None:
    found = _VARIANTS.get(name)
    return found[0] if found else CATALOG.get(name)


def catalog_entry(name: str) -> ModelEntry:
    """The entry for a model name (variants share their base model's entry)."""
    entry = _entry(name)
    if entry is None:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(CATALOG)}")
    return entry


def installable_entry(name: str) -> ModelEntry:
    """The entry for a model ``stash-sense models`` can install (``KeyError`` saying why not)."""
    entry = _entry(name)
    if entry is None:
        raise KeyError(f"unknown model {name!r}; installable models: {', '.join(INSTALLABLE)}")
    if not entry.installable:
        raise KeyError(f"{entry.name} ships with Stash Sense (nothing to install); installable models: {', '.join(INSTALLABLE)}")
    return entry


def installed_path(name: str) -> Path:
    """Where an installable model's file is (or would be) installed."""
    return models_dir() / installable_entry(name).file


def install_command(name: str) -> str:
    entry = installable_entry(name)
    return f"stash-sense models install {entry.name}" + ("" if entry.commercial_use else " --accept-licence")


def model_file_installed(name: str) -> bool:
    """Whether an installable model's file is present with the catalogued size (sha256 is checked on load)."""
    try:
        path = installed_path(name)
        return path.is_file() and path.stat().st_size == catalog_entry(name).size
    except (KeyError, OSError):
        return False


def embedder_name() -> str:
    """The face embedder used to build face DBs and for evaluations (``STASH_SENSE_EMBEDDER``).

    Unset: :data:`PREFERRED_EMBEDDER` when its model file is installed, else
    :data:`DEFAULT_EMBEDDER` (which ships with the package). Identification always uses the
    embedder its face DB names.
    """
    name = embedder_setting()
    if not name:
        return PREFERRED_EMBEDDER if model_file_installed(PREFERRED_EMBEDDER) else DEFAULT_EMBEDDER
    if name not in _VARIANTS:
        raise ValueError(f"STASH_SENSE_EMBEDDER={name!r} is not one of {', '.join(EMBEDDER_NAMES)}")
    return name
