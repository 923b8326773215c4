"""Sample libraries: labelled photos rendered into scenes with known performers.

Used by tests, the Stash emulator, the evaluation and the demo. A library folder holds::

    gallery/<name>/<photo>     performer images: build the face DB from this folder
    heldout/<name>/<photo>     other photos of the same people, shown in the scenes
    unknowns/<label>/<photo>   people who are not performers, shown in some scenes
    scenes/scene_NNNN.mp4      H.264 scenes at 480p/720p/1080p/4K
    library.json               the ground truth: performers (ids, stash IDs, photos) and, per
                               scene, its performers, unknown people and shots

Build one with ``stash-sense samplelib render`` or :func:`render_library`, read it with
:func:`load_library`. Rendering is deterministic: the same seed, photos and settings give the
same ``library.json`` and byte-identical scenes. :func:`render_library` with ``workers > 1``
starts worker processes with the ``spawn`` method, so scripts calling it need the usual
``if __name__ == "__main__":`` guard.
"""

from stash_sense.devtools.samplelib.library import (
    LibraryPerformer,
    LibraryScene,
    LibraryShot,
    LibraryUnknown,
    SampleLibrary,
    SampleLibraryError,
    ShotPerson,
    load_library,
)
from stash_sense.devtools.samplelib.render import RenderReport, render_library
from stash_sense.devtools.samplelib.settings import RenderSettings

__all__ = [
    "LibraryPerformer",
    "LibraryScene",
    "LibraryShot",
    "LibraryUnknown",
    "RenderReport",
    "RenderSettings",
    "SampleLibrary",
    "SampleLibraryError",
    "ShotPerson",
    "load_library",
    "render_library",
]
