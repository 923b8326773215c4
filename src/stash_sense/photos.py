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
