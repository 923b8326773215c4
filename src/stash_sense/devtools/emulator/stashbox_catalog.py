"""The emulated stash-box's performers and images, and the edits tests make to them.

Performer records are immutable: an edit replaces the record under the catalogue's lock, so the
server thread can render a performer while a test edits the catalogue in-process without ever
seeing half an edit. Every edit takes a time from :class:`EmulatorClock`, which never repeats or
goes back, so a client that syncs by ``UPDATED_AT`` sees every change exactly once.

Images are shared objects (as on stash-box, where a merge links the source's images to the
target): the catalogue keeps every image it ever knew, so an image URL keeps working after the
performer holding it is edited, deleted or merged away.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("stash_sense.devtools.emulator")

# stash-box's GenderEnum (performer.graphql).
GENDERS = frozenset({"MALE", "FEMALE", "TRANSGENDER_MALE", "TRANSGENDER_FEMALE", "INTERSEX", "NON_BINARY"})
# Initial timestamps are this plus the performer's index in seconds: fixed, so two runs over the
# same folders serve the same times, and distinct, so CREATED_AT and UPDATED_AT sorts mean something.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)  # the smallest step the emulator's times resolve


class CatalogError(ValueError):
    """An edit the catalogue refuses (bad value, deleted performer, ...): an HTTP 400."""


class PerformerNotFound(KeyError):
    """No performer has that id: an HTTP 404."""

    def __str__(self) -> str:
        return f"no performer with id {self.args[0]!r}"


class _Unset:
    """Marks an edit argument that was not given (``None`` means "clear the field")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class BoxImage:
    """One image file; its pixel size is read from the file header the first time it is asked
    for, so that listing thousands of identities never opens their photos."""

    id: str
    path: Path

    @cached_property
    def size(self) -> tuple[int, int]:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path) as image:  # reads the header only
                width, height = image.size
                return (int(width), int(height))
        except (OSError, UnidentifiedImageError) as exc:
            log.warning("stash-box emulator: cannot read the size of %s: %s", self.path, exc)
            return (0, 0)

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


@dataclass(frozen=True)
class BoxPerformer:
    """A performer as stash-box stores it (the fields the emulator has data for)."""

    id: str
    name: str
    image_ids: tuple[str, ...]
    created: datetime
    updated: datetime
    disambiguation: str | None = None
    aliases: tuple[str, ...] = ()
    gender: str | None = None
    country: str | None = None
    urls: tuple[str, ...] = ()
    scene_count: int = 0
    deleted: bool = False
    merged_ids: tuple[str, ...] = ()
    merged_into_id: str | None = None


class EmulatorClock:
    """Times for edits: the source clock's time, but always strictly after every time handed
    out before (and after the catalogue's initial times), even if the source stands still or
    goes back."""

    def __init__(self, source: Callable[[], datetime] | None, after: datetime):
        self._source = source or (lambda: datetime.now(UTC))
        self._last = after

    def tick(self) -> datetime:
        now = self._source()
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        self._last = max(now, self._last + _TICK)
        return self._last


def format_time(moment: datetime) -> str:
    """A ``Time`` as stash-box's Go server writes it (RFC 3339, UTC, trailing zeros of the
    fraction dropped as Go's RFC3339Nano does)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def namespace_uuid(id_namespace: str) -> uuid.UUID:
    """The uuid5 namespace of one emulated stash-box: two namespaces, two sets of ids."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense/stashbox-emulator/{id_namespace}")


def image_id_for(performer_id: str, relative_name: str) -> str:
    """An image's id: fixed by its performer and its file's name relative to its source folder."""
    return str(uuid.uuid5(uuid.UUID(performer_id), relative_name))


class StashBoxCatalog:
    """Every performer (deleted ones included) and image; thread-safe."""

    def __init__(
        self,
        performers: Iterable[BoxPerformer],
        images: Iterable[BoxImage],
        *,
        id_namespace: str = "",
        clock: Callable[[], datetime] | None = None,
    ):
        self._lock = threading.RLock()
        self._performers: dict[str, BoxPerformer] = {}
        self._images: dict[str, BoxImage] = {image.id: image for image in images}
        for performer in performers:
            if performer.id in self._performers:
                raise ValueError(f"performer id {performer.id} is given twice")
            self._performers[performer.id] = performer
        latest = max((p.updated for p in self._performers.values()), default=EPOCH)
        self._clock = EmulatorClock(clock, latest)
        self._namespace = namespace_uuid(id_namespace)
        self._created = 0

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._performers)

    def get(self, performer_id: str) -> BoxPerformer | None:
        """Any performer, deleted or merged away included (as ``findPerformer``)."""
        return self._performers.get(performer_id)

    def require(self, performer_id: str) -> BoxPerformer:
        performer = self._performers.get(performer_id)
        if performer is None:
            raise PerformerNotFound(performer_id)
        return performer

    def image(self, image_id: str) -> BoxImage | None:
        return self._images.get(image_id)

    def images_of(self, performer: BoxPerformer) -> list[BoxImage]:
        return [self._images[image_id] for image_id in performer.image_ids]

    def active(self) -> list[BoxPerformer]:
        """The performers that listings and searches show: all but the deleted ones."""
        with self._lock:
            return [p for p in self._performers.values() if not p.deleted]

    def all(self) -> list[BoxPerformer]:
        with self._lock:
            return list(self._performers.values())

    # -- edits -----------------------------------------------------------------------------------

    def create_performer(
        self,
        name: str,
        images: Sequence[Path | str] = (),
        *,
        aliases: Sequence[str] = (),
        disambiguation: str | None = None,
        gender: str | None = None,
        country: str | None = None,
        urls: Sequence[str] = (),
    ) -> BoxPerformer:
        """A new performer with ``images`` (absolute paths of image files)."""
        with self._lock:
            performer = BoxPerformer(
                id="",
                name=_clean_name(name),
                image_ids=(),
                created=EPOCH,
                updated=EPOCH,
                disambiguation=_clean_optional_text(disambiguation, "disambiguation"),
                aliases=_clean_aliases(aliases),
                gender=_clean_gender(gender),
                country=_clean_optional_text(country, "country"),
                urls=_clean_urls(urls),
            )
            # Deterministic (the n-th creation of a name gets the same id in every run) and
            # apart from the catalogue's own ids, which hash the bare name.
            performer_id = str(uuid.uuid5(self._namespace, f"created/{self._created + 1}/{performer.name}"))
            if performer_id in self._performers:
                raise CatalogError(f"performer id {performer_id} exists already")
            performer = dataclasses.replace(performer, id=performer_id)
            image_ids = self._add_images(performer, images)
            self._created += 1  # only now: a refused creation uses up no id
            now = self._clock.tick()
            performer = dataclasses.replace(performer, image_ids=image_ids, created=now, updated=now)
            self._performers[performer_id] = performer
            return performer

    def update_performer(
        self,
        performer_id: str,
        *,
        name: str | _Unset = UNSET,
        aliases: Sequence[str] | _Unset = UNSET,
        disambiguation: str | None | _Unset = UNSET,
        gender: str | None | _Unset = UNSET,
        country: str | None | _Unset = UNSET,
        urls: Sequence[str] | _Unset = UNSET,
        add_images: Sequence[Path | str] = (),
        remove_images: Sequence[str] = (),
    ) -> BoxPerformer:
        """Edit a performer: given fields replace the old values (``None`` clears a nullable
        one), ``add_images`` appends image files, ``remove_images`` drops images by id."""
        with self._lock:
            performer = self._live(performer_id, "edit")
            changes: dict[str, object] = {}
            if not isinstance(name, _Unset):
                changes["name"] = _clean_name(name)
            if not isinstance(aliases, _Unset):
                changes["aliases"] = _clean_aliases(aliases)
            if not isinstance(disambiguation, _Unset):
                changes["disambiguation"] = _clean_optional_text(disambiguation, "disambiguation")
            if not isinstance(gender, _Unset):
                changes["gender"] = _clean_gender(gender)
            if not isinstance(country, _Unset):
                changes["country"] = _clean_optional_text(country, "country")
            if not isinstance(urls, _Unset):
                changes["urls"] = _clean_urls(urls)
            if isinstance(remove_images, str) or not isinstance(remove_images, Sequence):
                raise CatalogError("remove_images must be a list of image ids")
            unknown = [image_id for image_id in remove_images if image_id not in performer.image_ids]
            if unknown:
                raise CatalogError(f"performer {performer_id} has no image {', '.join(map(str, unknown))}")
            removed = set(remove_images)
            kept = tuple(image_id for image_id in performer.image_ids if image_id not in removed)
            changes["image_ids"] = self._add_images(dataclasses.replace(performer, image_ids=kept), add_images)
            return self._store(dataclasses.replace(performer, **changes))  # type: ignore[arg-type]

    def delete_performer(self, performer_id: str) -> BoxPerformer:
        """Mark a performer deleted: gone from listings and searches, still found by id."""
        with self._lock:
            return self._store(dataclasses.replace(self._live(performer_id, "delete"), deleted=True))

    def merge_performers(self, source_ids: Sequence[str], target_id: str) -> BoxPerformer:
        """Merge ``source_ids`` into ``target_id`` as a stash-box merge edit does: the sources
        become deleted and point at the target, the target lists them (and whatever had been
        merged into them) in ``merged_ids`` and gains their images. Performers merged into a
        source earlier now point at the target too, their ``updated`` left alone (stash-box
        rewrites only its redirect table)."""
        with self._lock:
            sources = self._merge_sources(source_ids, target_id)
            target = self._live(target_id, "merge into")
            now = self._clock.tick()
            merged = list(target.merged_ids)
            images = list(target.image_ids)
            for source in sources:
                # stash-box rewrites older redirects to the new target, so chains stay one hop.
                for earlier in (source.id, *source.merged_ids):
                    if earlier not in merged:
                        merged.append(earlier)
                    if earlier != source.id:
                        self._performers[earlier] = dataclasses.replace(self._performers[earlier], merged_into_id=target_id)
                images.extend(image_id for image_id in source.image_ids if image_id not in images)
                self._performers[source.id] = dataclasses.replace(
                    source, deleted=True, merged_into_id=target_id, merged_ids=(), updated=now
                )
            updated = dataclasses.replace(target, merged_ids=tuple(merged), image_ids=tuple(images), updated=now)
            self._performers[target_id] = updated
            return updated

    # -- helpers ---------------------------------------------------------------------------------

    def _live(self, performer_id: str, action: str) -> BoxPerformer:
        performer = self.require(performer_id)
        if performer.deleted:
            raise CatalogError(f"cannot {action} performer {performer_id}: it is deleted")
        return performer

    def _merge_sources(self, source_ids: Sequence[str], target_id: str) -> list[BoxPerformer]:
        if isinstance(source_ids, str) or not isinstance(source_ids, Sequence) or not source_ids \
                or not all(isinstance(source_id, str) for source_id in source_ids):
            raise CatalogError("source_ids must be a non-empty list of performer ids")
        if not isinstance(target_id, str):
            raise CatalogError("target_id must be a performer id")
        if len(set(source_ids)) != len(source_ids):
            raise CatalogError("source_ids lists a performer twice")
        if target_id in source_ids:
            raise CatalogError("a performer cannot be merged into itself")
        return [self._live(source_id, "merge") for source_id in source_ids]

    def _store(self, performer: BoxPerformer) -> BoxPerformer:
        performer = dataclasses.replace(performer, updated=self._clock.tick())
        self._performers[performer.id] = performer
        return performer

    def _add_images(self, performer: BoxPerformer, paths: Sequence[Path | str]) -> tuple[str, ...]:
        """``performer``'s image ids with the image files at ``paths`` appended (a file it holds
        already is not added twice)."""
        if isinstance(paths, (str, Path)) or not isinstance(paths, Sequence):
            raise CatalogError("images must be a list of file paths")
        ids = list(performer.image_ids)
        new: list[BoxImage] = []
        for raw in paths:
            if not isinstance(raw, (str, Path)):
                raise CatalogError(f"image path {raw!r} is not a string")
            path = Path(raw)
            if not path.is_absolute():
                raise CatalogError(f"image path {raw} must be absolute")
            if not path.is_file():
                raise CatalogError(f"image file {raw} not found")
            image = BoxImage(image_id_for(performer.id, str(path)), path)
            if image.size == (0, 0):
                raise CatalogError(f"{raw} is not a readable image")
            if image.id not in ids:
                ids.append(image.id)
                new.append(image)
        for image in new:  # registered only once every path is good: a refused edit leaves nothing
            self._images.setdefault(image.id, image)
        return tuple(ids)


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise CatalogError("name must be a non-empty string")
    return name.strip()


def _clean_optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CatalogError(f"{field} must be a string or null")
    return value.strip() or None


def _clean_aliases(aliases: object) -> tuple[str, ...]:
    if isinstance(aliases, str) or not isinstance(aliases, Sequence) or not all(isinstance(a, str) for a in aliases):
        raise CatalogError("aliases must be a list of strings")
    return tuple(dict.fromkeys(alias.strip() for alias in aliases if alias.strip()))


def _clean_gender(gender: object) -> str | None:
    if gender is None:
        return None
    if gender not in GENDERS:
        raise CatalogError(f"gender must be one of {', '.join(sorted(GENDERS))} or null, not {gender!r}")
    return str(gender)


def _clean_urls(urls: object) -> tuple[str, ...]:
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise CatalogError("urls must be a list of http(s) URLs")
    for url in urls:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise CatalogError(f"{url!r} is not an http(s) URL")
    return tuple(dict.fromkeys(urls))
