"""What a crawl did, written down as it happens, and the images it downloaded but has not stored yet.

A crawl may be killed at any moment (SIGKILL included) and re-run. Two promises follow:

- *Nothing is downloaded twice.* An image is saved to the crawl's image cache (atomically: a
  temp file renamed into place) the moment its bytes arrive, before any face work; a re-run
  reads it from there. The cache file is removed only after the image's faces are committed to
  the DB, where its source key then says it is done.
- *The totals cover every run.* Each request, 429 and saved image is appended to a journal file
  and flushed at once (a killed process loses nothing the kernel already has); the report sums
  the journal over all runs. An image saved twice would show up there as such.

Layout: ``<DB>/.crawl/<endpoint digest>/journal.log`` and ``images/<sha256 of key>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

from ...stash.ratelimit import target_key
from .tables import RunTotals

# Seconds between two "time spent" lines: a kill loses at most this much of the run's clock.
_HEARTBEAT_S = 2.0


class CrawlJournal:
    """The on-disk journal and image cache of one endpoint's crawl (or update) into one DB."""

    def __init__(self, db_dir: Path, endpoint: str, *, kind: str = "crawl") -> None:
        digest = hashlib.sha256(target_key(endpoint).encode("utf-8")).hexdigest()[:16]
        self.root = Path(db_dir) / ".crawl" / f"{kind}-{digest}"
        self.images = self.root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._path = self.root / "journal.log"
        self._lock = threading.Lock()  # requests are counted on the download loop's thread
        self._handle = self._path.open("a", encoding="utf-8")
        self._clock = time.monotonic()

    # -- writing -----------------------------------------------------------------------------

    def _append(self, line: str) -> None:
        with self._lock:
            if self._handle.closed:
                return
            self._handle.write(line + "\n")
            self._handle.flush()

    def sent(self) -> None:
        """A request left: counted even when a kill cuts it off before its answer."""
        self._append("S")

    def request(self, status: int, late_429: bool = False) -> None:
        self._append(f"R {status} late" if late_429 else f"R {status}")
        self._tick()

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._clock >= _HEARTBEAT_S:
            self._append(f"T {now - self._clock:.3f}")
            self._clock = now

    def save_image(self, key: str, data: bytes) -> None:
        """Keep a downloaded image until its faces are committed (atomic: never half a file)."""
        path = self._image_path(key)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._append(f"I {key}")

    def cached_image(self, key: str) -> bytes | None:
        path = self._image_path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def forget_images(self, keys: list[str]) -> None:
        """Drop cached images whose faces are now in the DB."""
        for key in keys:
            self._image_path(key).unlink(missing_ok=True)

    def _image_path(self, key: str) -> Path:
        return self.images / hashlib.sha256(key.encode("utf-8")).hexdigest()

    # -- reading -----------------------------------------------------------------------------

    def _lines(self) -> list[str]:
        try:
            return self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def totals(self) -> RunTotals:
        self._tick(force=True)
        sent = requests = throttled = late = 0
        seconds = 0.0
        images: Counter[str] = Counter()
        for line in self._lines():
            tag, _, rest = line.partition(" ")
            if tag == "S":
                sent += 1
            elif tag == "R":
                requests += 1
                throttled += rest.startswith("429")
                late += rest.endswith("late")
            elif tag == "I":
                images[rest] += 1
            elif tag == "T":
                seconds += _seconds(rest)
        return RunTotals(
            requests=max(sent, requests), throttled_429=throttled, throttled_after_slowdown=late, images_downloaded=len(images),
            images_downloaded_twice=sum(n - 1 for n in images.values()), seconds=round(seconds, 2),
        )

    def close(self) -> None:
        if not self._handle.closed:
            self._tick(force=True)
            self._handle.close()

    def remove(self) -> None:
        """The run finished and its totals are in the DB: the journal and cache go."""
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):  # another endpoint's crawl may still be there
            self.root.parent.rmdir()


def _seconds(text: str) -> float:
    """A "time spent" line's seconds; 0 for a line a kill cut short."""
    try:
        return float(text)
    except ValueError:
        return 0.0
