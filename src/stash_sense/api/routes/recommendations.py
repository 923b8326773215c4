"""The recommendations engine over HTTP: list, counts, detail, analyses as jobs, dismiss, resolve.

Actions that change Stash (merge performers, delete a scene's extra files, merge scenes) need a
sidecar with an API key (``STASH_SENSE_API_KEY``: the middleware then requires it on every
call), an explicit ``"confirm": true``, go to Stash at CRITICAL priority, and are recorded with
the ids before and after.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from stash_sense.api.analysis_jobs import AnalysisJobs
from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, ApiError, ErrorBody, bad_request, error_responses, not_found
from stash_sense.api.stash_access import stash_error
from stash_sense.recommendations import ANALYZER_TYPES
from stash_sense.recommendations.actions import ACTIONS_BY_TYPE, ActionRefused, apply_fix
from stash_sense.stash import StashError
from stash_sense.userdb import ActionRecord, AnalysisRun, Recommendation, RecommendationStore

# SQLite integers are 64-bit: a larger id can name nothing, and must be a 422, not an overflow.
RecId = Annotated[int, Path(ge=1, le=2**63 - 1, description="recommendation id")]

router = APIRouter(prefix="/recommendations", tags=["recommendations"], responses=error_responses(*COMMON_ERRORS))

RecommendationType = Literal["duplicate_performers", "duplicate_files", "duplicate_scenes"]
Status = Literal["open", "dismissed", "resolved", "obsolete"]


class RecommendationPage(BaseModel):
    items: list[Recommendation]
    total: int
    page: int
    per_page: int


class RecommendationCounts(BaseModel):
    types: list[str] = Field(description="Every recommendation type the engine raises.")
    counts: dict[str, dict[str, int]] = Field(description="{type: {status: count}}")
    open: int = Field(description="Open recommendations of every type.")


class RecommendationDetail(Recommendation):
    actions: list[ActionRecord] = Field(default_factory=list, description="Changes made to Stash for it, newest first.")
    fix: str | None = Field(None, description="The action `resolve` applies for this type.")


class AnalysisRequest(BaseModel):
    type: RecommendationType | Literal["performers", "files", "scenes"]
    full: bool = Field(False, description="Re-examine everything instead of what changed since the last run.")


class AnalysisStatus(BaseModel):
    running: bool
    type: str | None
    progress: float | None
    phase: str | None
    stopping: bool
    current: AnalysisRun | None
    recent: list[AnalysisRun]


class DismissRequest(BaseModel):
    kind: Literal["soft", "permanent", "not_duplicate"] = Field(
        "soft", description="soft: until the evidence changes; permanent / not_duplicate: for ever."
    )
    reason: str | None = Field(None, max_length=500)


class ResolveRequest(BaseModel):
    action: Literal["fix", "mark_resolved"] = Field(
        "fix", description="fix: apply the type's change in Stash (merge / delete files); mark_resolved: only record it as done."
    )
    keeper: str | None = Field(None, max_length=64, description="The performer, scene or file to keep (default: the suggested one).")
    file_ids: list[str] | None = Field(
        None, max_length=64, description="duplicate_files: the files to delete (default: all but the keeper)."
    )
    confirm: bool = Field(False, description="Must be true for an action that changes Stash.")
    note: str | None = Field(None, max_length=500)


class ResolveResponse(BaseModel):
    recommendation: RecommendationDetail
    action: ActionRecord | None


def _store(sidecar: Sidecar) -> RecommendationStore:
    return RecommendationStore(sidecar.user_db)


def get_analysis_jobs(request: Request) -> AnalysisJobs:
    """One job runner per app, made on first use."""
    jobs = getattr(request.app.state, "analysis_jobs", None)
    if jobs is None:
        sidecar: Sidecar = request.app.state.sidecar
        jobs = AnalysisJobs(sidecar.settings, sidecar.user_db, sidecar.stash, sidecar.face_db)
        request.app.state.analysis_jobs = jobs
    return jobs


def _detail(store: RecommendationStore, rec_id: int) -> RecommendationDetail:
    rec = store.get(rec_id)
    if rec is None:
        raise not_found(f"no recommendation {rec_id}")
    return RecommendationDetail(**rec.model_dump(), actions=store.actions(rec_id=rec_id), fix=ACTIONS_BY_TYPE.get(rec.type))


@router.get("", response_model=RecommendationPage, summary="Recommendations, most confident first")
async def list_recommendations(
    type: RecommendationType | None = Query(None),
    status: Status | None = Query("open"),
    min_confidence: float | None = Query(None, ge=0.0, le=1.0),
    max_confidence: float | None = Query(None, ge=0.0, le=1.0),
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(50, ge=1, le=200),
    sidecar: Sidecar = Depends(get_sidecar),
) -> RecommendationPage:
    if min_confidence is not None and max_confidence is not None and min_confidence > max_confidence:
        raise bad_request("min_confidence must not be above max_confidence", error="invalid_range")
    items, total = _store(sidecar).list(
        type=type,
        status=status,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        page=page,
        per_page=per_page,
    )
    return RecommendationPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/counts", response_model=RecommendationCounts, summary="How many recommendations per type and status")
async def counts(sidecar: Sidecar = Depends(get_sidecar)) -> RecommendationCounts:
    data = _store(sidecar).counts()
    return RecommendationCounts(types=list(ANALYZER_TYPES), counts=data, open=sum(v.get("open", 0) for v in data.values()))


@router.get("/analysis", response_model=AnalysisStatus, summary="The running analysis and the recent runs")
async def analysis_status(jobs: AnalysisJobs = Depends(get_analysis_jobs)) -> AnalysisStatus:
    return AnalysisStatus(**jobs.status())


@router.post("/analysis", response_model=AnalysisStatus, status_code=202, summary="Start an analysis", responses=error_responses(409, 503))
async def start_analysis(body: AnalysisRequest, jobs: AnalysisJobs = Depends(get_analysis_jobs)) -> AnalysisStatus:
    """Incremental (only what changed in Stash since the type's last run) unless ``full`` or the
    analyzer's logic changed. Poll ``GET /recommendations/analysis`` for progress."""
    return AnalysisStatus(**await jobs.start(body.type, full=body.full))


@router.post("/analysis/stop", response_model=AnalysisStatus, summary="Stop the running analysis")
async def stop_analysis(jobs: AnalysisJobs = Depends(get_analysis_jobs)) -> AnalysisStatus:
    return AnalysisStatus(**await jobs.stop())


@router.get("/analysis/runs", response_model=list[AnalysisRun], summary="Analysis runs, newest first")
async def runs(
    type: RecommendationType | None = Query(None),
    limit: int = Query(20, ge=1, le=200),
    sidecar: Sidecar = Depends(get_sidecar),
) -> list[AnalysisRun]:
    return _store(sidecar).runs(type, limit)


@router.get(
    "/{rec_id}", response_model=RecommendationDetail, summary="One recommendation with its evidence", responses=error_responses(404)
)
async def detail(rec_id: RecId, sidecar: Sidecar = Depends(get_sidecar)) -> RecommendationDetail:
    return _detail(_store(sidecar), rec_id)


@router.post("/{rec_id}/dismiss", response_model=RecommendationDetail, summary="Dismiss a recommendation", responses=error_responses(404))
async def dismiss(rec_id: RecId, body: DismissRequest, sidecar: Sidecar = Depends(get_sidecar)) -> RecommendationDetail:
    """A soft dismissal holds until the evidence changes; ``permanent`` and ``not_duplicate``
    hold for ever (the pair is remembered even if the recommendation row is re-created)."""
    store = _store(sidecar)
    if store.dismiss(rec_id, body.kind, body.reason) is None:
        raise not_found(f"no recommendation {rec_id}")
    return _detail(store, rec_id)


@router.post("/{rec_id}/undismiss", response_model=RecommendationDetail, summary="Take back a dismissal", responses=error_responses(404))
async def undismiss(rec_id: RecId, sidecar: Sidecar = Depends(get_sidecar)) -> RecommendationDetail:
    store = _store(sidecar)
    if store.undismiss(rec_id) is None:
        raise not_found(f"no recommendation {rec_id}")
    return _detail(store, rec_id)


@router.post(
    "/{rec_id}/resolve",
    response_model=ResolveResponse,
    summary="Fix or close a recommendation",
    responses={
        **error_responses(404, 409, 502, 503),
        403: {"model": ErrorBody, "description": "The sidecar has no API key: actions that change Stash are off"},
    },
)
async def resolve(rec_id: RecId, body: ResolveRequest, sidecar: Sidecar = Depends(get_sidecar)) -> ResolveResponse:
    """``fix`` changes Stash: merge the performers into the keeper, delete the scene's other
    files (never the last one), or merge the scenes into the keeper. It needs the sidecar's API
    key to be set and ``confirm: true``; it is recorded with the ids before and after."""
    store = _store(sidecar)
    rec = store.get(rec_id)
    if rec is None:
        raise not_found(f"no recommendation {rec_id}")
    if body.action == "mark_resolved":
        store.resolve(rec_id, "marked resolved" + (f": {body.note}" if body.note else ""))
        action = store.record_action(rec_id, "mark_resolved", "done", {"before": {"status": rec.status}, "after": {"status": "resolved"}})
        return ResolveResponse(recommendation=_detail(store, rec_id), action=action)
    if sidecar.settings.api_key is None:
        raise ApiError(403, "api_key_required", "actions that change Stash need the sidecar's API key: set STASH_SENSE_API_KEY")
    if not body.confirm:
        raise ApiError(400, "confirmation_required", f'{ACTIONS_BY_TYPE.get(rec.type, "this action")} changes Stash: send "confirm": true')
    if rec.status != "open":
        raise ApiError(409, "not_open", f"recommendation {rec_id} is {rec.status}; only open recommendations can be fixed")
    client = sidecar.stash.require()
    name = ACTIONS_BY_TYPE.get(rec.type, "fix")
    try:
        outcome = await apply_fix(client, rec, keeper=body.keeper, file_ids=body.file_ids)
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.error, str(exc)) from None
    except StashError as exc:
        store.record_action(rec_id, name, "failed", {"request": body.model_dump(exclude={"confirm"})}, error=str(exc)[:2000])
        raise stash_error(exc, name) from None
    action = store.record_action(rec_id, outcome.action, "done", outcome.record())
    store.resolve(rec_id, f"{outcome.action} done (action {action.id})" + (f": {body.note}" if body.note else ""))
    return ResolveResponse(recommendation=_detail(store, rec_id), action=action)
