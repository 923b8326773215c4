"""Scene-level scoring against known performers.

The one place that decides whether a reported performer is right: ``eval scenes``, the API's
end-to-end check and the benchmark all score through ``score_scene`` so their figures agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TIERS = ("480p", "720p", "1080p", "4k")


def resolution_tier(width: int, height: int) -> str:
    """Tier by the frame's SHORTER side (1280x720 is 720p, 720x1280 too)."""
    short = min(width, height)
    if short >= 2160:
        return "4k"
    if short >= 1080:
        return "1080p"
    if short >= 720:
        return "720p"
    if short >= 480:
        return "480p"
    return "<480p"


def performer_keys(*, name: str | None = None, stash_ids: Iterable[dict[str, str]] | Iterable[str] = ()) -> set[str]:
    """Every key a performer can be recognised by: endpoint-qualified ids, plus the name for
    DBs built from local folders (whose only identity is the folder name)."""
    keys = set()
    for sid in stash_ids:
        if isinstance(sid, dict):
            keys.add(f"{sid['endpoint']}#{sid['stash_id']}")
        else:
            keys.add(str(sid))
    if name:
        keys.add("name:" + name.casefold())
    return keys


@dataclass(slots=True)
class SceneScore:
    expected: list[str]  # display names
    reported: list[str]
    true_positives: list[str]
    false_positives: list[str]
    false_negatives: list[str]

    @property
    def tp(self) -> int:
        return len(self.true_positives)

    @property
    def fp(self) -> int:
        return len(self.false_positives)

    @property
    def fn(self) -> int:
        return len(self.false_negatives)


def score_scene(expected: list[tuple[str, set[str]]], reported: list[tuple[str, set[str]]]) -> SceneScore:
    """``expected``/``reported``: (display name, keys) per performer. A reported performer is a
    true positive when it shares a key with an expected one (each expected matched once)."""
    matched: set[int] = set()
    tps, fps = [], []
    for name, keys in reported:
        hit = next((i for i, (_, ek) in enumerate(expected) if i not in matched and ek & keys), None)
        if hit is None:
            fps.append(name)
        else:
            matched.add(hit)
            tps.append(expected[hit][0])
    fns = [n for i, (n, _) in enumerate(expected) if i not in matched]
    return SceneScore([n for n, _ in expected], [n for n, _ in reported], tps, fps, fns)


def precision_recall(scores: Iterable[SceneScore]) -> dict[str, float | int]:
    tp = fp = fn = n = 0
    for s in scores:
        tp, fp, fn, n = tp + s.tp, fp + s.fp, fn + s.fn, n + 1
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "scenes": n,
        "false_positives_per_scene": fp / n if n else 0.0,
    }
