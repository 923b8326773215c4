"""Who is in a sample library: performers (gallery and held-out photos), distractors, unknowns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stash_sense.devtools.samplelib.library import LibraryPerformer, LibraryUnknown, SampleLibraryError
from stash_sense.devtools.samplelib.plan import performer_stash_id
from stash_sense.devtools.samplelib.settings import RenderSettings
from stash_sense.devtools.samplelib.sources import Identity, normalize_name, scan_identities


@dataclass
class Roster:
    performers: list[LibraryPerformer] = field(default_factory=list)  # ids "1", "2", ... in this order
    unknowns: list[LibraryUnknown] = field(default_factory=list)
    placements: list[tuple[Path, str]] = field(default_factory=list)  # (source photo, library path)
    warnings: list[str] = field(default_factory=list)


def build_roster(
    faces_dir: Path,
    settings: RenderSettings,
    *,
    distractors_dir: Path | None = None,
    unknowns_dir: Path | None = None,
) -> Roster:
    """Scan the photo folders and decide every person's role and photos.

    Identities of ``faces_dir`` (sorted by name) come first; each gives its first
    ``gallery_per_identity`` photos (by file name) to the gallery and holds out the rest, or
    gives all of them to the gallery when fewer than ``min_heldout`` would be left. Distractors
    follow, gallery-only. Anyone named like a person already taken is skipped with a warning.
    """
    roster = Roster()
    faces = scan_identities(faces_dir, label="faces")
    _warn_scan(faces.unreadable, faces.empty, "faces", roster.warnings)
    selected = [
        identity
        for identity in faces.identities
        if (settings.min_images is None or len(identity.images) >= settings.min_images)
        and (settings.max_images is None or len(identity.images) <= settings.max_images)
    ]
    if not selected:
        raise SampleLibraryError(f"no identity in {faces_dir} has {_count_range(settings)} readable photos")
    taken: dict[str, str] = {}
    for identity in selected:
        key = normalize_name(identity.name)
        if key in taken:
            raise SampleLibraryError(
                f"identities {taken[key]!r} and {identity.name!r} in {faces_dir} look like the same "
                "person; merge or rename one of them"
            )
        taken[key] = identity.name

    gallery_only = 0
    split_at = settings.gallery_per_identity
    for identity in selected:
        images = list(identity.images)
        if len(images) < split_at + settings.min_heldout:
            _add_performer(roster, identity.name, images, [], distractor=False)
            gallery_only += 1
        else:
            _add_performer(roster, identity.name, images[:split_at], images[split_at:], distractor=False)
    if gallery_only:
        roster.warnings.append(
            f"{gallery_only} identities have fewer than {split_at + settings.min_heldout} photos: "
            "all their photos went to the gallery and they appear in no scene"
        )
    if not any(p.heldout_images for p in roster.performers):
        raise SampleLibraryError(
            f"no identity in {faces_dir} has more than {split_at + settings.min_heldout - 1} photos, "
            "so none can appear in scenes; lower --gallery-per-identity or --min-heldout"
        )

    if distractors_dir is not None:
        extras = scan_identities(distractors_dir, label="distractors")
        _warn_scan(extras.unreadable, extras.empty, "distractors", roster.warnings)
        for identity in _without_collisions(extras.identities, taken, "distractor", roster.warnings):
            _add_performer(roster, identity.name, list(identity.images), [], distractor=True)

    if unknowns_dir is not None:
        strangers = scan_identities(unknowns_dir, label="unknowns")
        _warn_scan(strangers.unreadable, strangers.empty, "unknowns", roster.warnings)
        for identity in _without_collisions(strangers.identities, taken, "unknown person", roster.warnings):
            relative = [f"unknowns/{identity.name}/{p.name}" for p in identity.images]
            roster.placements += zip(identity.images, relative)
            roster.unknowns.append(LibraryUnknown(name=identity.name, images=relative))
    return roster


def _add_performer(
    roster: Roster, name: str, gallery: Sequence[Path], heldout: Sequence[Path], *, distractor: bool
) -> None:
    images = [f"gallery/{name}/{p.name}" for p in gallery]
    held = [f"heldout/{name}/{p.name}" for p in heldout]
    roster.placements += zip([*gallery, *heldout], [*images, *held])
    roster.performers.append(
        LibraryPerformer(
            id=str(len(roster.performers) + 1),
            name=name,
            stash_id=performer_stash_id(name),
            images=images,
            heldout_images=held,
            distractor=distractor,
        )
    )


def _without_collisions(
    identities: Sequence[Identity], taken: dict[str, str], role: str, warnings: list[str]
) -> list[Identity]:
    """Drop identities whose name matches someone already in the library (and claim the rest)."""
    kept: list[Identity] = []
    clashes: list[str] = []
    for identity in identities:
        key = normalize_name(identity.name)
        if key in taken:
            clashes.append(f"{identity.name} (= {taken[key]})")
            continue
        taken[key] = identity.name
        kept.append(identity)
    if clashes:
        warnings.append(
            f"skipped {len(clashes)} {role} identities named like someone already in the library: "
            + ", ".join(clashes[:5])
            + (" ..." if len(clashes) > 5 else "")
        )
    return kept


def _warn_scan(unreadable: Sequence[Path], empty: Sequence[str], label: str, warnings: list[str]) -> None:
    if unreadable:
        warnings.append(
            f"skipped {len(unreadable)} unreadable photos in the {label} folder, e.g. {unreadable[0]}"
        )
    if empty:
        warnings.append(f"{len(empty)} {label} folders have no readable photo: {', '.join(empty[:5])}")


def _count_range(settings: RenderSettings) -> str:
    if settings.min_images is not None and settings.max_images is not None:
        if settings.min_images == settings.max_images:
            return f"exactly {settings.min_images}"
        return f"{settings.min_images}-{settings.max_images}"
    if settings.min_images is not None:
        return f"at least {settings.min_images}"
    if settings.max_images is not None:
        return f"at most {settings.max_images}"
    return "any"
