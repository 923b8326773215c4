"""Recommendations, the analysis runs that raise them, dismissals and analyzer watermarks.

A recommendation is one per ``(type, target)``: a re-run updates the row instead of adding a
second one. Dismissals live in their own table so they outlive the row they dismissed: a soft
dismissal holds until the evidence changes (its hash differs), a permanent one and "not a
duplicate" hold for ever.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from stash_sense.userdb.db import UserDB, utc_now

RecommendationStatus = Literal["open", "dismissed", "resolved", "obsolete"]
DismissKind = Literal["soft", "permanent", "not_duplicate"]
RunMode = Literal["full", "incremental"]
RunStatus = Literal["running", "completed", "stopped", "failed"]
UpsertOutcome = Literal["raised", "updated", "unchanged", "suppressed"]


def evidence_hash(facts: Any) -> str:
    """A stable hash of the facts behind a recommendation (canonical JSON, SHA-256)."""
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class NewRecommendation:
    """What an analyzer found; ``facts`` (default: the evidence) decide whether it changed."""

    type: str
    target: str
    confidence: float
    evidence: dict[str, Any]
    objects: Sequence[tuple[str, str]] = ()
    facts: Any = None

    @property
    def hash(self) -> str:
        return evidence_hash(self.facts if self.facts is not None else self.evidence)


class Recommendation(BaseModel):
    id: int
    type: str
    target: str
    status: RecommendationStatus
    confidence: float
    evidence: dict[str, Any]
    evidence_hash: str
    run_id: int | None
    created_at: str
    updated_at: str
    resolved_at: str | None = None
    resolution: str | None = None
    dismissal: DismissKind | None = Field(None, description="How it was dismissed, when it was.")


class AnalysisRun(BaseModel):
    id: int
    type: str
    mode: RunMode
    status: RunStatus
    logic_version: int
    total: int = Field(description="Library items known to the analyzer.")
    examined: int = Field(description="Items this run looked at (only the changed ones when incremental).")
    candidates: int
    raised: int
    updated: int
    suppressed: int
    obsolete: int
    progress: float
    examined_ids: list[str] | None = Field(None, description="The ids examined, when the run was incremental.")
    error: str | None
    started_at: str
    finished_at: str | None


class Watermark(BaseModel):
    type: str
    logic_version: int
    watermark: str | None
    last_run_id: int | None
    updated_at: str


class ActionRecord(BaseModel):
    id: int
    recommendation_id: int | None
    action: str
    status: Literal["done", "failed"]
    detail: dict[str, Any]
    error: str | None
    created_at: str


@dataclass
class RunCounts:
    candidates: int = 0
    raised: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: int = 0
    obsolete: int = 0
    seen_targets: set[str] = field(default_factory=set)

    def add(self, outcome: UpsertOutcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


_REC_COLUMNS = (
    "r.id, r.type, r.target, r.status, r.confidence, r.evidence, r.evidence_hash, r.run_id, r.created_at, "
    "r.updated_at, r.resolved_at, r.resolution, d.kind"
)
_RUN_COLUMNS = (
    "id, type, mode, status, logic_version, total, examined, candidates, raised, updated, suppressed, obsolete, "
    "progress, examined_ids, error, started_at, finished_at"
)


def _rec(row: tuple) -> Recommendation:
    keys = ("id", "type", "target", "status", "confidence", "evidence", "evidence_hash", "run_id", "created_at",
            "updated_at", "resolved_at", "resolution", "dismissal")
    data = dict(zip(keys, row, strict=True))
    data["evidence"] = json.loads(data["evidence"])
    return Recommendation(**data)


def _run(row: tuple) -> AnalysisRun:
    data = dict(zip([c.strip() for c in _RUN_COLUMNS.split(",")], row, strict=True))
    data["examined_ids"] = json.loads(data["examined_ids"]) if data["examined_ids"] else None
    return AnalysisRun(**data)


class RecommendationStore:
    """Reads and writes the recommendation tables of ``stash_sense.db``."""

    def __init__(self, db: UserDB) -> None:
        self.db = db

    # -- runs and watermarks --------------------------------------------------------------------

    def start_run(self, type: str, mode: RunMode, logic_version: int) -> AnalysisRun:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO analysis_runs (type, mode, status, logic_version, started_at) VALUES (?, ?, 'running', ?, ?)",
                (type, mode, int(logic_version), utc_now()),
            )
            run_id = int(cur.lastrowid)
        return self.run(run_id)  # type: ignore[return-value]

    def set_progress(self, run_id: int, *, progress: float, total: int | None = None, examined: int | None = None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE analysis_runs SET progress = ?, total = COALESCE(?, total), examined = COALESCE(?, examined) WHERE id = ?",
                (max(0.0, min(1.0, float(progress))), total, examined, run_id),
            )

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts | None = None, *, error: str | None = None,
        examined_ids: Iterable[str] | None = None,
    ) -> AnalysisRun:
        c = counts or RunCounts()
        ids = json.dumps(sorted(examined_ids, key=_natural)) if examined_ids is not None else None
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE analysis_runs SET status = ?, candidates = ?, raised = ?, updated = ?, suppressed = ?, obsolete = ?, "
                "progress = CASE WHEN ? = 'completed' THEN 1.0 ELSE progress END, examined_ids = COALESCE(?, examined_ids), "
                "error = ?, finished_at = ? WHERE id = ?",
                (status, c.candidates, c.raised, c.updated, c.suppressed, c.obsolete, status, ids,
                 error[:2000] if error else None, utc_now(), run_id),
            )
        return self.run(run_id)  # type: ignore[return-value]

    def run(self, run_id: int) -> AnalysisRun | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM analysis_runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs(self, type: str | None = None, limit: int = 20) -> list[AnalysisRun]:
        sql = f"SELECT {_RUN_COLUMNS} FROM analysis_runs"
        args: list[Any] = []
        if type:
            sql += " WHERE type = ?"
            args.append(type)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(limit))
        with self.db.reading() as conn:
            return [_run(r) for r in conn.execute(sql, args).fetchall()]

    def interrupt_running(self) -> int:
        """Mark runs left 'running' by a process that died as stopped (at start-up)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE analysis_runs SET status = 'stopped', error = 'interrupted', finished_at = ? WHERE status = 'running'",
                (utc_now(),),
            )
            return int(cur.rowcount)

    def watermark(self, type: str) -> Watermark | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT type, logic_version, watermark, last_run_id, updated_at FROM analyzer_watermarks WHERE type = ?", (type,)
            ).fetchone()
        if row is None:
            return None
        return Watermark(type=row[0], logic_version=row[1], watermark=row[2], last_run_id=row[3], updated_at=row[4])

    def set_watermark(self, type: str, logic_version: int, watermark: str | None, run_id: int | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO analyzer_watermarks (type, logic_version, watermark, last_run_id, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (type) DO UPDATE SET logic_version = excluded.logic_version, watermark = excluded.watermark, "
                "last_run_id = excluded.last_run_id, updated_at = excluded.updated_at",
                (type, int(logic_version), watermark, run_id, utc_now()),
            )

    # -- recording findings ---------------------------------------------------------------------

    def upsert_many(self, findings: Iterable[NewRecommendation], run_id: int, counts: RunCounts) -> None:
        """Record findings in one transaction, honouring dismissals; tallies go into ``counts``."""
        now = utc_now()
        with self.db.transaction() as conn:
            for finding in findings:
                counts.seen_targets.add(finding.target)
                counts.add(self._upsert(conn, finding, run_id, now))

    def _upsert(self, conn: sqlite3.Connection, f: NewRecommendation, run_id: int, now: str) -> UpsertOutcome:
        digest = f.hash
        evidence = json.dumps(f.evidence, sort_keys=True, default=str)
        confidence = round(max(0.0, min(1.0, float(f.confidence))), 4)
        dismissal = conn.execute("SELECT kind, evidence_hash FROM dismissals WHERE type = ? AND target = ?", (f.type, f.target)).fetchone()
        existing = conn.execute(
            "SELECT id, status, evidence_hash FROM recommendations WHERE type = ? AND target = ?", (f.type, f.target)
        ).fetchone()
        if dismissal is not None:
            kind, dismissed_hash = dismissal
            if kind != "soft" or dismissed_hash == digest:
                return "suppressed"
            # The evidence changed since a soft dismissal: the item comes back.
            conn.execute("DELETE FROM dismissals WHERE type = ? AND target = ?", (f.type, f.target))
        if existing is None:
            cur = conn.execute(
                "INSERT INTO recommendations (type, target, status, confidence, evidence, evidence_hash, run_id, created_at, updated_at) "
                "VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (f.type, f.target, confidence, evidence, digest, run_id, now, now),
            )
            rec_id = int(cur.lastrowid)
            outcome: UpsertOutcome = "raised"
        else:
            rec_id, status, old_hash = existing
            if status == "open" and old_hash == digest:
                conn.execute("UPDATE recommendations SET run_id = ?, confidence = ? WHERE id = ?", (run_id, confidence, rec_id))
                return "unchanged"
            outcome = "updated" if status == "open" else "raised"
            conn.execute(
                "UPDATE recommendations SET status = 'open', confidence = ?, evidence = ?, evidence_hash = ?, run_id = ?, "
                "updated_at = ?, resolved_at = NULL, resolution = NULL WHERE id = ?",
                (confidence, evidence, digest, run_id, now, rec_id),
            )
        conn.execute("DELETE FROM recommendation_objects WHERE recommendation_id = ?", (rec_id,))
        conn.executemany(
            "INSERT OR IGNORE INTO recommendation_objects (recommendation_id, kind, object_id) VALUES (?, ?, ?)",
            [(rec_id, kind, str(obj)) for kind, obj in f.objects],
        )
        return outcome

    def retire_missing(
        self, type: str, seen_targets: set[str], *, touching: tuple[str, Iterable[str]] | None = None
    ) -> int:
        """Mark open recommendations of ``type`` not found again as obsolete.

        A full run retires every open one it did not see; an incremental run only those that
        involve one of the objects it examined (``touching = (kind, ids)``).
        """
        with self.db.transaction() as conn:
            if touching is None:
                rows = conn.execute("SELECT id, target FROM recommendations WHERE type = ? AND status = 'open'", (type,)).fetchall()
            else:
                kind, ids = touching
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS _touched (object_id TEXT PRIMARY KEY)")
                conn.execute("DELETE FROM _touched")
                conn.executemany("INSERT OR IGNORE INTO _touched VALUES (?)", [(str(i),) for i in ids])
                rows = conn.execute(
                    "SELECT DISTINCT r.id, r.target FROM recommendations r JOIN recommendation_objects o ON o.recommendation_id = r.id "
                    "JOIN _touched t ON t.object_id = o.object_id WHERE r.type = ? AND r.status = 'open' AND o.kind = ?",
                    (type, kind),
                ).fetchall()
            stale = [rec_id for rec_id, target in rows if target not in seen_targets]
            now = utc_now()
            conn.executemany(
                "UPDATE recommendations SET status = 'obsolete', resolved_at = ?, resolution = 'no longer detected', updated_at = ? "
                "WHERE id = ?",
                [(now, now, rec_id) for rec_id in stale],
            )
        return len(stale)

    def retire_absent(self, type: str, kind: str, present: set[str]) -> int:
        """Mark open recommendations of ``type`` that involve an object of ``kind`` no longer in
        ``present`` (deleted or merged away in Stash) as obsolete."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT r.id, o.object_id FROM recommendations r JOIN recommendation_objects o ON o.recommendation_id = r.id "
                "WHERE r.type = ? AND r.status = 'open' AND o.kind = ?",
                (type, kind),
            ).fetchall()
            gone = sorted({rec_id for rec_id, obj in rows if obj not in present})
            now = utc_now()
            conn.executemany(
                "UPDATE recommendations SET status = 'obsolete', resolved_at = ?, resolution = 'gone from Stash', updated_at = ? "
                "WHERE id = ?",
                [(now, now, rec_id) for rec_id in gone],
            )
        return len(gone)

    # -- reading --------------------------------------------------------------------------------

    def get(self, rec_id: int) -> Recommendation | None:
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_REC_COLUMNS} FROM recommendations r LEFT JOIN dismissals d ON d.type = r.type AND d.target = r.target "
                "WHERE r.id = ?",
                (rec_id,),
            ).fetchone()
        return _rec(row) if row else None

    def list(
        self, *, type: str | None = None, status: str | None = None, min_confidence: float | None = None,
        max_confidence: float | None = None, page: int = 1, per_page: int = 50,
    ) -> tuple[list[Recommendation], int]:
        """One page, most confident first; and how many match in all."""
        where, args = [], []
        for column, value in (("r.type", type), ("r.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if min_confidence is not None:
            where.append("r.confidence >= ?")
            args.append(float(min_confidence))
        if max_confidence is not None:
            where.append("r.confidence <= ?")
            args.append(float(max_confidence))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self.db.reading() as conn:
            total = int(conn.execute(f"SELECT COUNT(*) FROM recommendations r{clause}", args).fetchone()[0])
            rows = conn.execute(
                f"SELECT {_REC_COLUMNS} FROM recommendations r LEFT JOIN dismissals d ON d.type = r.type AND d.target = r.target"
                f"{clause} ORDER BY r.confidence DESC, r.id LIMIT ? OFFSET ?",
                [*args, int(per_page), (int(page) - 1) * int(per_page)],
            ).fetchall()
        return [_rec(r) for r in rows], total

    def counts(self) -> dict[str, dict[str, int]]:
        """``{type: {status: n}}``."""
        with self.db.reading() as conn:
            rows = conn.execute("SELECT type, status, COUNT(*) FROM recommendations GROUP BY type, status").fetchall()
        out: dict[str, dict[str, int]] = {}
        for type_, status, n in rows:
            out.setdefault(type_, {})[status] = int(n)
        return out

    def targets(self, type: str, status: str | None = None) -> dict[str, int]:
        """``{target: id}`` of a type (for evaluations and tests)."""
        sql = "SELECT target, id FROM recommendations WHERE type = ?"
        args: list[Any] = [type]
        if status:
            sql += " AND status = ?"
            args.append(status)
        with self.db.reading() as conn:
            return {str(t): int(i) for t, i in conn.execute(sql, args).fetchall()}

    # -- user decisions -------------------------------------------------------------------------

    def dismiss(self, rec_id: int, kind: DismissKind, reason: str | None = None) -> Recommendation | None:
        now = utc_now()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT type, target, evidence_hash FROM recommendations WHERE id = ?", (rec_id,)).fetchone()
            if row is None:
                return None
            type_, target, digest = row
            conn.execute(
                "INSERT INTO dismissals (type, target, kind, evidence_hash, reason, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (type, target) DO UPDATE SET kind = excluded.kind, evidence_hash = excluded.evidence_hash, "
                "reason = excluded.reason, created_at = excluded.created_at",
                (type_, target, kind, digest, reason, now),
            )
            conn.execute(
                "UPDATE recommendations SET status = 'dismissed', resolved_at = ?, resolution = ?, updated_at = ? WHERE id = ?",
                (now, f"dismissed ({kind})" + (f": {reason}" if reason else ""), now, rec_id),
            )
        return self.get(rec_id)

    def undismiss(self, rec_id: int) -> Recommendation | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT type, target FROM recommendations WHERE id = ?", (rec_id,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM dismissals WHERE type = ? AND target = ?", row)
            conn.execute(
                "UPDATE recommendations SET status = 'open', resolved_at = NULL, resolution = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'dismissed'",
                (utc_now(), rec_id),
            )
        return self.get(rec_id)

    def resolve(self, rec_id: int, resolution: str) -> Recommendation | None:
        now = utc_now()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE recommendations SET status = 'resolved', resolved_at = ?, resolution = ?, updated_at = ? WHERE id = ?",
                (now, resolution[:2000], now, rec_id),
            )
            if cur.rowcount == 0:
                return None
        return self.get(rec_id)

    def record_action(
        self, rec_id: int | None, action: str, status: Literal["done", "failed"], detail: dict[str, Any], error: str | None = None
    ) -> ActionRecord:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO recommendation_actions (recommendation_id, action, status, detail, error, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (rec_id, action, status, json.dumps(detail, sort_keys=True, default=str), error, utc_now()),
            )
            action_id = int(cur.lastrowid)
        return self.actions(action_id=action_id)[0]

    def actions(self, *, rec_id: int | None = None, action_id: int | None = None, limit: int = 100) -> list[ActionRecord]:
        sql = "SELECT id, recommendation_id, action, status, detail, error, created_at FROM recommendation_actions"
        args: list[Any] = []
        if action_id is not None:
            sql += " WHERE id = ?"
            args.append(action_id)
        elif rec_id is not None:
            sql += " WHERE recommendation_id = ?"
            args.append(rec_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(limit))
        with self.db.reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [
            ActionRecord(id=r[0], recommendation_id=r[1], action=r[2], status=r[3], detail=json.loads(r[4]), error=r[5], created_at=r[6])
            for r in rows
        ]


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 62, text)
