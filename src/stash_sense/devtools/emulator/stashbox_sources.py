"""Where the emulated stash-box's performers come from: a sample library, or folders of
labelled photos (``<folder>/<Identity Name>/<images>``).

Ids are deterministic so that tests can compute them and two runs serve the same catalogue:
a folder identity's performer id is a uuid5 of the emulator's ``id_namespace`` and the
identity's name, an image id a uuid5 of its performer id and its file's name relative to its
source folder. Two emulators with different namespaces serve the same people under different
ids, as two real stash-boxes (StashDB, FansDB) do.

Nothing here opens an image: listing the ~6,000 LFW + celeb17 identities costs directory scans
only, and each image's size is read from its header when a client first asks for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from stash_sense.devtools.emulator.library import EmulatorLibrary
from stash_sense.devtools.emulator.stashbox_catalog import (
    EPOCH,
    BoxImage,
    BoxPerformer,
    StashBoxCatalog,
    image_id_for,
    namespace_uuid,
)
from stash_sense.photos import list_identities


def identity_name(folder_name: str) -> str:
    """A performer's name from its folder's: LFW writes ``Tom_Hanks``, celeb17 ``Tom Hanks``."""
    return " ".join(folder_name.replace("_", " ").split())


def performer_stash_id(identity: str, id_namespace: str = "") -> str:
    """The id a folder catalogue serves the identity (folder name or performer name) under."""
    return str(uuid.uuid5(namespace_uuid(id_namespace), identity_name(identity)))


def catalog_from_folders(
    folders: Sequence[Path],
    *,
    id_namespace: str = "",
    clock: Callable[[], datetime] | None = None,
) -> StashBoxCatalog:
    """One performer per identity name across ``folders``, with the images of every folder
    that holds it (``lfw/tuning`` adds images to 402 ``lfw/people`` identities; celeb17's
    ``Tom Hanks`` and LFW's ``Tom_Hanks`` are one performer).

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` for a folder without
    identities or one given twice.
    """
    roots = [Path(folder).expanduser().resolve() for folder in folders]
    if not roots:
        raise ValueError("no photo folder given")
    if len(set(roots)) != len(roots):
        raise ValueError("the same photo folder is given twice")
    # name -> [(identity folder name, image path)], in folder order then file order
    found: dict[str, list[tuple[str, Path]]] = {}
    for root in roots:
        for folder_name, paths in list_identities(root).items():
            found.setdefault(identity_name(folder_name), []).extend((folder_name, path) for path in paths)
    performers: list[BoxPerformer] = []
    images: list[BoxImage] = []
    for index, name in enumerate(sorted(found, key=lambda n: (n.casefold(), n))):
        performer_id = str(uuid.uuid5(namespace_uuid(id_namespace), name))
        own = _folder_images(performer_id, found[name])
        images.extend(own)
        performers.append(_initial_performer(performer_id, name, own, index))
    return StashBoxCatalog(performers, images, id_namespace=id_namespace, clock=clock)


def catalog_from_library(
    library: EmulatorLibrary,
    *,
    id_namespace: str = "",
    clock: Callable[[], datetime] | None = None,
) -> StashBoxCatalog:
    """The library's performers that have a stash ID, with all their gallery photos.

    Without a namespace a performer keeps its library stash ID (the ids the sample library's
    Stash links to); with one, its id is a uuid5 of the namespace and that stash ID.
    """
    performers: list[BoxPerformer] = []
    images: list[BoxImage] = []
    for performer in library.performers:
        if not performer.stash_id:
            continue
        performer_id = performer.stash_id
        if id_namespace:
            performer_id = str(uuid.uuid5(namespace_uuid(id_namespace), performer.stash_id))
        own = [BoxImage(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{performer_id}/{path.name}")), path) for path in performer.images]
        images.extend(own)
        scene_count = sum(performer.id in scene.performer_ids for scene in library.scenes)
        performers.append(_initial_performer(performer_id, performer.name, own, len(performers), scene_count))
    return StashBoxCatalog(performers, images, id_namespace=id_namespace, clock=clock)


def _folder_images(performer_id: str, files: list[tuple[str, Path]]) -> list[BoxImage]:
    images: list[BoxImage] = []
    used: set[str] = set()
    for folder_name, path in files:
        relative = f"{folder_name}/{path.name}"
        image_id = image_id_for(performer_id, relative)
        copy = 1
        while image_id in used:  # the same relative name in two source folders
            copy += 1
            image_id = image_id_for(performer_id, f"{relative}#{copy}")
        used.add(image_id)
        images.append(BoxImage(image_id, path))
    return images


def _initial_performer(performer_id: str, name: str, images: list[BoxImage], index: int, scene_count: int = 0) -> BoxPerformer:
    stamp = EPOCH + timedelta(seconds=index)
    return BoxPerformer(
        id=performer_id,
        name=name,
        image_ids=tuple(image.id for image in images),
        created=stamp,
        updated=stamp,
        scene_count=scene_count,
    )
