"""The gallery-scale split: lfw/people + lfw/tuning + celeb17 as one gallery of ~5,000 identities.

- Identities are matched across the three sets by folded name (``Tom_Hanks`` in LFW and ``Tom
  Hanks`` in celeb17 are one identity; a name in both lfw/people and lfw/tuning is one identity).
- **Unknown probes (reported)**: a tenth of the lfw/people identities with two or more photos
  (counted over all of them), chosen by a hash of the name among those that appear in neither
  lfw/tuning nor celeb17; every photo of theirs is a probe and none is in the gallery.
- **Unknown probes (tuning)**: a tenth of the single-photo lfw/tuning strangers (identities not in
  lfw/people or celeb17), chosen the same way.
- **Known probes**: the last lfw/people photo of each other people identity with two or more
  people photos (reported); the last lfw/tuning photo of each tuning identity that also has
  people photos (tuning). Everything else is in the gallery.
- **celeb17** (reported): rotated, so that 17 probes per round are not the whole story: in round r
  the r-th photo of each actor is the probe and the other photos are in the gallery.

The choice is deterministic (sha256 of the folded name), so every run holds out the same people.
Known LFW label errors are corrected first (ALIASES, LEFT_OUT below).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..photos import name_key

PEOPLE, TUNING, CELEB = "lfw/people", "lfw/tuning", "celeb17"

# Label errors of LFW that only a large gallery exposes. Every pair of photos filed under two
# different names and nearer than 0.45 (genuine-match distance for edgeface-xs; 89 pairs) was
# looked at. Twins, sisters and look-alikes (the Olsen and Mowry twins, the Moraes and Hentzen
# sisters, Jason Kapono / Ray Young, ...) stay: they are the impostors an open set has to refuse.
# Names in another order (Nan Wang / Wang Nan) are one identity already (see identity_key).
# One person under two names: the second name is an alias of the first.
ALIASES = {
    "Sepp Blatter": "Joseph Blatter",
    "Uday Hussein": "Odai Hussein",
    "Hasan Wirayuda": "Hassan Wirajuda",
    "Noer Muis": "Noer Moeis",
    "Mireya Elisa Moscoso Rodriguez": "Mireya Moscoso",
    "Prince Felipe": "Felipe De Borbon",
    "William Pryor Jr": "Bill Pryor",
    "Glenn Rivers": "Doc Rivers",
    "Brian Williams": "Bison Dele",  # LFW's Brian_Williams photo is the basketball player who took that name
    "John Burnett": "John Barnett",
}
# Photos that show someone other than their name, or one image filed under two names (both
# copies go: which name is right cannot be told).
LEFT_OUT = frozenset({
    "Carlos_Beltran/Carlos_Beltran_0001.jpg", "Raul_Ibanez/Raul_Ibanez_0001.jpg",
    "Bart_Hendricks/Bart_Hendricks_0001.jpg", "Ricky_Ray/Ricky_Ray_0001.jpg",
    "Martha_Bowen/Martha_Bowen_0002.jpg", "Gabrielle_Rose/Gabrielle_Rose_0001.jpg",
    "Emmy_Rossum/Emmy_Rossum_0001.jpg", "Eva_Amurri/Eva_Amurri_0001.jpg",
    "Andrew_Gilligan/Andrew_Gilligan_0001.jpg", "Andrew_Caldecott/Andrew_Caldecott_0001.jpg",
    "Takahiro_Mori/Takahiro_Mori_0001.jpg", "Shinya_Taniguchi/Shinya_Taniguchi_0001.jpg",
    "Harold_Scott/Harold_Scott_0001.jpg", "Jeff_Roehm/Jeff_Roehm_0001.jpg",
    "Julianne_Moore/Julianne_Moore_0008.jpg",  # the face at the centre is Todd Haynes
    "Carlos_Ruckauf/Carlos_Ruckauf_0001.jpg",  # shows Eduardo Duhalde
    "Anja_Paerson/Anja_Paerson_0001.jpg",  # shows Janica Kostelic
    "Recep_Tayyip_Erdogan/Recep_Tayyip_Erdogan_0004.jpg",  # shows Abdullah Gul
    "Michael_Schumacher/Michael_Schumacher_0008.jpg",  # shows Rubens Barrichello
    "Shavon_Earp/Shavon_Earp_0001.jpg",  # shows Diana Taurasi
})


def identity_key(name: str) -> str:
    """The folded name with its words sorted ("Wang Nan" and "Nan Wang" agree)."""
    return " ".join(sorted(name_key(name).split()))


_ALIAS_KEYS = {identity_key(a): identity_key(b) for a, b in ALIASES.items()}


@dataclass(slots=True)
class ScaleSplit:
    # Gallery photos per identity (folded name) and source. celeb17 keeps every photo: a round
    # takes its probe out.
    gallery: dict[str, dict[str, list[Path]]] = field(default_factory=lambda: {PEOPLE: {}, TUNING: {}, CELEB: {}})
    known: dict[str, list[tuple[str, Path]]] = field(default_factory=lambda: {PEOPLE: [], TUNING: []})
    unknown: dict[str, list[tuple[str, Path]]] = field(default_factory=lambda: {PEOPLE: [], TUNING: []})
    held_out: dict[str, list[str]] = field(default_factory=lambda: {PEOPLE: [], TUNING: []})
    label_fixes: str = "none"

    @property
    def celeb_rounds(self) -> int:
        return min((len(v) for v in self.gallery[CELEB].values()), default=0)

    def celeb_probes(self, round_: int) -> list[tuple[str, Path]]:
        return [(k, photos[round_]) for k, photos in sorted(self.gallery[CELEB].items())]

    def identities(self, sources: tuple[str, ...]) -> dict[str, list[Path]]:
        """The gallery from ``sources``, with every celeb17 photo (see :meth:`for_round`)."""
        out: dict[str, list[Path]] = {}
        for source in sources:
            for key, photos in self.gallery[source].items():
                out.setdefault(key, []).extend(photos)
        return out

    def for_round(self, sources: tuple[str, ...], round_: int) -> dict[str, list[Path]]:
        """The gallery of celeb17 round ``round_``: its probes taken out."""
        held = {p for _, p in self.celeb_probes(round_)} if CELEB in sources else set()
        return {k: [p for p in photos if p not in held] for k, photos in self.identities(sources).items()}

    def all_paths(self) -> list[Path]:
        paths = [p for src in self.gallery.values() for photos in src.values() for p in photos]
        paths += [p for probes in (*self.known.values(), *self.unknown.values()) for _, p in probes]
        return sorted(set(paths))


def _by_key(data: dict[str, list[Path]], clean: bool) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for name, photos in data.items():
        if not clean:
            out.setdefault(name_key(name), []).extend(photos)
            continue
        key = identity_key(name)
        kept = [p for p in photos if f"{p.parent.name}/{p.name}" not in LEFT_OUT]
        if kept:
            out.setdefault(_ALIAS_KEYS.get(key, key), []).extend(kept)
    return {k: sorted(v, key=lambda p: (p.parent.name, p.name)) for k, v in out.items()}


def _hash_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: hashlib.sha256(k.encode("utf-8")).hexdigest())


def make_scale_split(
    people: dict[str, list[Path]],
    tuning: dict[str, list[Path]],
    celeb: dict[str, list[Path]],
    *,
    fraction: float = 0.1,
    clean_labels: bool = True,
) -> ScaleSplit:
    """The split described in the module docstring (``fraction``: the held-out share;
    ``clean_labels``: apply ALIASES and LEFT_OUT)."""
    p, t, c = _by_key(people, clean_labels), _by_key(tuning, clean_labels), _by_key(celeb, clean_labels)
    multi = [k for k, photos in p.items() if len(photos) >= 2]
    eligible = _hash_order([k for k in multi if k not in t and k not in c])
    unknown_people = set(eligible[: max(1, round(fraction * len(multi)))])
    strangers = _hash_order([k for k, photos in t.items() if k not in p and k not in c and len(photos) == 1])
    unknown_tuning = set(strangers[: max(1, round(fraction * len(strangers)))])

    split = ScaleSplit()
    if clean_labels:
        given = sum(len(v) for d in (people, tuning, celeb) for v in d.values())
        left_out = given - sum(len(v) for d in (p, t, c) for v in d.values())
        split.label_fixes = f"{len(ALIASES)} aliases and names in another word order merged; {left_out} mislabelled photos left out"
    split.held_out = {PEOPLE: sorted(unknown_people), TUNING: sorted(unknown_tuning)}
    for key, photos in sorted(p.items()):
        if key in unknown_people:
            split.unknown[PEOPLE].extend((key, x) for x in photos)
        elif len(photos) >= 2:
            split.known[PEOPLE].append((key, photos[-1]))
            split.gallery[PEOPLE][key] = photos[:-1]
        else:
            split.gallery[PEOPLE][key] = photos
    for key, photos in sorted(t.items()):
        if key in unknown_tuning:
            split.unknown[TUNING].extend((key, x) for x in photos)
        elif key in p:
            split.known[TUNING].append((key, photos[-1]))
            if len(photos) > 1:
                split.gallery[TUNING][key] = photos[:-1]
        else:
            split.gallery[TUNING][key] = photos
    split.gallery[CELEB] = dict(sorted(c.items()))
    return split
