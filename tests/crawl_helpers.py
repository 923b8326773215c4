"""Small real stash-box catalogues for the crawl tests, and a logical comparison of two face DBs."""

from __future__ import annotations

from pathlib import Path

from stash_sense.facedb.content import content_differences, db_content

__all__ = ["assert_same_content", "db_content", "link_catalogue", "spare_identities"]


def _with_two_photos(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.iterdir())) >= 2]


def link_catalogue(facedata: Path, dest: Path, *, lfw: int = 24, celeb: int = 3, per_identity: int = 3) -> Path:
    """``dest/<Identity>/<photos>``: symlinks to the first ``lfw`` lfw/people identities with two or
    more photos and the first ``celeb`` celeb17 actors (``per_identity`` photos each)."""
    chosen = _with_two_photos(facedata / "lfw" / "people")[:lfw]
    chosen += sorted(d for d in (facedata / "celeb17").iterdir() if d.is_dir())[:celeb]
    for identity in chosen:
        (dest / identity.name).mkdir(parents=True, exist_ok=True)
        for photo in sorted(identity.iterdir())[:per_identity]:
            (dest / identity.name / photo.name).symlink_to(photo)
    return dest


def spare_identities(facedata: Path, skip: int, count: int) -> list[Path]:
    """lfw/people identity folders (2+ photos) after the first ``skip``: people a catalogue lacks."""
    return _with_two_photos(facedata / "lfw" / "people")[skip : skip + count]


def assert_same_content(a: Path, b: Path) -> None:
    problems = content_differences(a, b)
    assert not problems, "\n".join(problems)
