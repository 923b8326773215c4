"""Safe image decoding: every bad input becomes an ``ImageReadError`` with a clear reason."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .types import RGBImage

# 64 megapixels: far above any real photo or 8K frame, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000


class ImageReadError(ValueError):
    """The input is not a usable image (the message says why)."""


def decode_image(data: bytes | Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> RGBImage:
    """Decode an image file or bytes to an RGB uint8 array, or raise ``ImageReadError``."""
    label = name or (str(data) if isinstance(data, (str, Path)) else "image")
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise ImageReadError(f"{label}: file not found")
        if path.is_dir():
            raise ImageReadError(f"{label}: is a directory, not an image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageReadError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageReadError(f"{label}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageReadError(
                        f"{label}: image is {w}x{h} ({w * h / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP limit"
                    )
                img.load()
                rgb = img.convert("RGB")
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{label}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{label}: not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated or corrupt data as OSError/SyntaxError.
        raise ImageReadError(f"{label}: corrupt or truncated image ({exc})") from exc
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ImageReadError(f"{label}: image too small ({arr.shape[1]}x{arr.shape[0]})")
    return np.ascontiguousarray(arr)
