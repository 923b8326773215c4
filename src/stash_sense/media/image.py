"""A single still image (Stash's scene screenshot) as a frame source of one frame."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

import httpx
import numpy as np
from PIL import Image, UnidentifiedImageError

from stash_sense.media.base import Frame, FrameFailure, FrameSourceError
from stash_sense.media.fetch import MediaSpec, describe_spec, read_media


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """JPEG/PNG/WebP/... bytes as an RGB uint8 array (alpha dropped, palette expanded)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns on very large images; treat its hard limit as the only real error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                rgb = img.convert("RGB")
    except UnidentifiedImageError:
        raise FrameSourceError(f"{what}: not a recognised image format") from None
    except Image.DecompressionBombError as exc:
        raise FrameSourceError(f"{what}: image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or corrupt files as OSError/SyntaxError.
        raise FrameSourceError(f"{what}: corrupt or truncated image ({exc})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


class ImageFrameSource:
    """One screenshot: :meth:`sample` always returns that single frame."""

    kind = "screenshot"

    def __init__(
        self,
        image: MediaSpec,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        *,
        timestamp: float = 0.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Load and decode ``image`` now, so a broken screenshot fails here and not mid-pipeline.

        ``timestamp`` is where in the scene the screenshot was taken, when the caller knows it;
        ``transport`` carries the HTTP requests (e.g. the API's URL guard).
        """
        self._shown = describe_spec(image)
        self.timestamp = float(timestamp)
        self.failures: list[FrameFailure] = []
        data = read_media(image, headers, timeout, what="screenshot", transport=transport)
        self._image: np.ndarray | None = decode_image(data, what=f"screenshot {self._shown}")

    @property
    def width(self) -> int:
        return int(self._require().shape[1])

    @property
    def height(self) -> int:
        return int(self._require().shape[0])

    def describe(self) -> str:
        return f"screenshot {self._shown}" + (
            f" ({self.width}x{self.height})" if self._image is not None else " (closed)"
        )

    def sample(self, num_frames: int, start_pct: float = 0.05, end_pct: float = 0.95) -> list[Frame]:
        """The screenshot as the only frame, whatever ``num_frames`` asks for."""
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        return [Frame(index=0, timestamp=self.timestamp, image=self._require().copy(), source=self.kind)]

    def close(self) -> None:
        self._image = None

    def __enter__(self) -> ImageFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> np.ndarray:
        if self._image is None:
            raise FrameSourceError(f"screenshot {self._shown}: source is closed")
        return self._image
