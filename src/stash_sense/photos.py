"""Labelled photo folders laid out as ``<identity>/<images>`` (folder name = identity)."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def list_identities(root: Path) -> dict[str, list[Path]]:
    """Identity name -> image paths sorted by file name (the order the splits rely on)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            out[sub.name] = images
    if not out:
        raise ValueError(f"{root} holds no <identity>/<image> folders")
    return out


def name_key(name: str) -> str:
    """A person's name folded for comparison: "Tom_Hanks", "tom hanks" and "Tóm-Hanks" agree.

    Photo sets spell the same person differently (LFW uses underscores), and a person listed
    twice under two spellings would count as two performers.
    """
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())
