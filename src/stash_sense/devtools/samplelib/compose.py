"""Compositing of sample-scene frames (numpy/OpenCV, BGR).

A shot is a background (gradient, blurred shapes or clouds, sometimes panning) with one photo
tile per person, each clipped to its column. Tiles are placed by their *face*: photos are
roughly face-centred portraits, and the face box (OpenCV's Haar detector, with a portrait
heuristic as fallback) is scaled to the planned fraction of the frame height, then panned and
zoomed over the shot. Occluders are thinner than half a face, so no face is ever fully hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from stash_sense.devtools.samplelib.library import SampleLibraryError
from stash_sense.devtools.samplelib.plan import BackgroundPlan, ShotPlan, TilePlan

BACKGROUND_MARGIN = 0.06  # extra background on each side, for camera pans
_DETECT_SIZE = 256  # longest side of the image the face detector sees


@dataclass
class Photo:
    """A decoded photo with the face box that placement is based on."""

    pixels: np.ndarray  # BGR
    face_cx: float
    face_cy: float
    face_size: float  # face height in pixels
    detected: bool  # False when the portrait heuristic was used
    _pyramid: list[np.ndarray] = field(default_factory=list, repr=False)

    def level(self, index: int) -> np.ndarray:
        """The photo halved ``index`` times (cached): avoids aliasing when shrinking a lot."""
        if not self._pyramid:
            self._pyramid.append(self.pixels)
        while len(self._pyramid) <= index:
            self._pyramid.append(cv2.pyrDown(self._pyramid[-1]))
        return self._pyramid[index]


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise SampleLibraryError(f"cannot load OpenCV's face detector from {path}")
    return cascade


def find_face(pixels: np.ndarray) -> tuple[float, float, float, bool]:
    """Centre x, centre y and height of the main face, and whether it was detected."""
    height, width = pixels.shape[:2]
    gray = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, _DETECT_SIZE / max(height, width))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    smallest = max(12, int(0.12 * min(gray.shape)))
    boxes = _cascade().detectMultiScale(gray, scaleFactor=1.15, minNeighbors=5, minSize=(smallest, smallest))
    if len(boxes):
        # The detector returns boxes in an order that depends on thread timing, and box sizes
        # come in discrete steps, so ties are common: break them by position (portraits are
        # face-centred) to pick the same face on every run.
        centre = gray.shape[1] / 2

        def rank(box: np.ndarray) -> tuple[float, ...]:
            bx, by, bw, bh = (int(v) for v in box)
            return (bw * bh, -abs(bx + bw / 2 - centre), -by, -bx)

        x, y, w, h = (int(v) for v in max(boxes, key=rank))
        return (x + w / 2) / scale, (y + h / 2) / scale, h / scale, True
    # Portrait heuristic: a face of ~45% of the short side, centred, in the upper half.
    return width / 2, 0.42 * height, 0.45 * min(height, width), False


@lru_cache(maxsize=96)
def load_photo(path: Path) -> Photo:
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise SampleLibraryError(f"cannot read photo {path}")
    cx, cy, size, detected = find_face(pixels)
    return Photo(pixels=pixels, face_cx=cx, face_cy=cy, face_size=size, detected=detected)


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


def render_background(plan: BackgroundPlan, width: int, height: int) -> np.ndarray:
    """A smooth background larger than the frame by :data:`BACKGROUND_MARGIN` on each side.

    Drawn at 1/8 scale and upscaled: smooth content is cheap to draw and to encode.
    """
    full_w = width + 2 * math.ceil(BACKGROUND_MARGIN * width)
    full_h = height + 2 * math.ceil(BACKGROUND_MARGIN * height)
    small_w, small_h = max(16, full_w // 8), max(16, full_h // 8)
    rng = np.random.default_rng(plan.seed)
    c0, c1, c2 = (np.array(c, dtype=np.float32) for c in plan.colours)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xs /= small_w
    ys /= small_h
    if plan.style == "radial":
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        t = np.clip(np.hypot(xs - cx, (ys - cy) * small_h / small_w) / 0.8, 0, 1)
    elif plan.style == "clouds":
        noise = rng.random((max(2, small_h // 10), max(2, small_w // 10)), dtype=np.float32)
        t = cv2.resize(noise, (small_w, small_h), interpolation=cv2.INTER_CUBIC)
        t = np.clip(cv2.GaussianBlur(t, (0, 0), small_w / 60), 0, 1)
    else:
        angle = rng.uniform(0, 2 * math.pi)
        t = xs * math.cos(angle) + ys * math.sin(angle)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    t = t[..., None]
    # Three-colour ramp: c0 -> c1 over the first half, c1 -> c2 over the second.
    image = np.where(t < 0.5, c0 + (c1 - c0) * (t * 2), c1 + (c2 - c1) * (t * 2 - 1))
    if plan.style == "shapes":
        for _ in range(int(rng.integers(5, 12))):
            colour = tuple(float(v) for v in rng.integers(0, 256, size=3))
            centre = (int(rng.integers(0, small_w)), int(rng.integers(0, small_h)))
            extent = int(rng.integers(small_h // 10, small_h // 3 + 2))
            layer = image.copy()
            if rng.random() < 0.5:
                cv2.circle(layer, centre, extent, colour, -1)
            else:
                corner = (centre[0] + extent, centre[1] + int(extent * rng.uniform(0.5, 1.5)))
                cv2.rectangle(layer, centre, corner, colour, -1)
            image = cv2.addWeighted(layer, 0.6, image, 0.4, 0)
        image = cv2.GaussianBlur(image, (0, 0), small_h / 40)
    small = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.resize(small, (full_w, full_h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class FacePlacement:
    """Where a tile's face is in a frame (pixels)."""

    cx: float
    cy: float
    size: float


def _place(tile: TilePlan, u: float, width: int, height: int) -> tuple[FacePlacement, int, int]:
    """The face position at progress ``u`` of the shot, and the tile's column bounds."""
    slot_x0 = round(tile.slot * width / tile.slots)
    slot_x1 = round((tile.slot + 1) * width / tile.slots)
    size = _lerp(tile.face_start, tile.face_end, u) * height
    margin = 0.04 * height
    half = size / 2
    x_lo, x_hi = slot_x0 + half + margin, slot_x1 - half - margin
    if x_lo > x_hi:
        x_lo = x_hi = (slot_x0 + slot_x1) / 2
    y_lo, y_hi = half + margin, height - half - margin
    if y_lo > y_hi:
        y_lo = y_hi = height / 2
    px = _lerp(tile.pos_start[0], tile.pos_end[0], u)
    py = _lerp(tile.pos_start[1], tile.pos_end[1], u)
    placement = FacePlacement(cx=_lerp(x_lo, x_hi, px), cy=_lerp(y_lo, y_hi, py), size=size)
    return placement, slot_x0, slot_x1


def draw_tile(frame: np.ndarray, tile: TilePlan, photo: Photo, u: float) -> FacePlacement:
    """Draw one tile at progress ``u`` (0..1) of its shot; returns where its face went."""
    height, width = frame.shape[:2]
    face, slot_x0, slot_x1 = _place(tile, u, width, height)
    scale = face.size / photo.face_size
    # Shrinking by more than 2x with bilinear sampling aliases; start from a halved copy instead.
    level = 0
    while scale * (2**level) < 0.5 and min(photo.level(level).shape[:2]) > 32:
        level += 1
    source = photo.level(level)
    factor = 2**level
    level_scale = scale * factor
    origin_x = face.cx - photo.face_cx * scale
    origin_y = face.cy - photo.face_cy * scale
    photo_h, photo_w = photo.pixels.shape[:2]
    x0, y0 = max(slot_x0, math.floor(origin_x)), max(0, math.floor(origin_y))
    x1 = min(slot_x1, math.ceil(origin_x + photo_w * scale))
    y1 = min(height, math.ceil(origin_y + photo_h * scale))
    if x1 <= x0 or y1 <= y0:
        return face
    matrix = np.array([[level_scale, 0, origin_x - x0], [0, level_scale, origin_y - y0]], dtype=np.float64)
    frame[y0:y1, x0:x1] = cv2.warpAffine(
        source, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    column = frame[:, slot_x0:slot_x1]  # drawing on the column view clips to the column
    if tile.border is not None:
        thickness = max(2, round(height / 270))
        cv2.rectangle(
            column,
            (round(origin_x) - slot_x0, round(origin_y)),
            (round(origin_x + photo_w * scale) - slot_x0, round(origin_y + photo_h * scale)),
            tile.border,
            thickness,
        )
    occluder = tile.occluder
    if occluder is not None:
        offset = _lerp(occluder.sweep_start, occluder.sweep_end, u) * face.size
        extent = occluder.size * face.size
        cx, cy = face.cx - slot_x0, face.cy
        if occluder.shape == "bar":
            if occluder.vertical:  # a vertical bar sweeping sideways
                p0, p1 = (round(cx + offset - extent / 2), 0), (round(cx + offset + extent / 2), height)
            else:
                p0, p1 = (0, round(cy + offset - extent / 2)), (slot_x1 - slot_x0, round(cy + offset + extent / 2))
            cv2.rectangle(column, p0, p1, occluder.colour, -1)
        else:
            centre = (round(cx + offset), round(cy)) if occluder.vertical else (round(cx), round(cy + offset))
            cv2.circle(column, centre, max(1, round(extent / 2)), occluder.colour, -1, lineType=cv2.LINE_AA)
    return face


class ShotRenderer:
    """Draws the frames of one shot (background and photos are prepared once)."""

    def __init__(self, shot: ShotPlan, root: Path, width: int, height: int) -> None:
        self.shot = shot
        self.width = width
        self.height = height
        self.background = render_background(shot.background, width, height)
        self.photos = [load_photo(root / tile.image) for tile in shot.tiles]

    def frame(self, frame_index: int) -> np.ndarray:
        """The BGR frame at ``frame_index`` (scene frame numbering)."""
        shot = self.shot
        length = shot.end_frame - shot.start_frame
        u = (frame_index - shot.start_frame) / max(1, length - 1)
        bg_h, bg_w = self.background.shape[:2]
        pan = self.shot.background
        bx = round(_lerp(pan.pan_start[0], pan.pan_end[0], u) * (bg_w - self.width))
        by = round(_lerp(pan.pan_start[1], pan.pan_end[1], u) * (bg_h - self.height))
        frame = self.background[by : by + self.height, bx : bx + self.width].copy()
        for tile, photo in zip(shot.tiles, self.photos):
            draw_tile(frame, tile, photo, u)
        slots = len(shot.tiles)
        for i in range(1, slots):  # a thin split-screen divider between columns
            x = round(i * self.width / slots)
            cv2.line(frame, (x, 0), (x, self.height), (16, 16, 16), max(2, round(self.height / 360)))
        return frame
