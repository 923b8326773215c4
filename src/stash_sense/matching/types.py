"""The value type of the performer-search contract a gallery serves (the face DB, or an
in-memory :class:`~stash_sense.matching.gallery.ArrayGallery`) and the matcher consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PerformerHit:
    """A performer near a query, aggregated over that performer's reference faces.

    ``distance`` is the distance to the performer's nearest face, ``second_distance`` the
    distance to its second-nearest face among the faces searched (``None`` when only one of its
    faces was among them), ``faces_matched`` how many of its faces were among them and
    ``faces_in_db`` how many it has in total.
    """

    performer_id: int
    distance: float
    second_distance: float | None
    faces_matched: int
    faces_in_db: int
