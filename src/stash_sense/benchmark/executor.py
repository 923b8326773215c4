"""Running identification for the benchmark: the real engine in-process, or a running sidecar.

In-process, a scene's expensive analysis (decode, detect, embed) depends only on the sampling
and face-filter parameters, so each scene is analysed once per distinct sampling and every
combination of a grid re-runs only the decision stage on those faces. Faces are analysed at
the smallest face size / quality any combination of the round asks for and filtered per
combination; which analysis serves which combination depends only on the round's grid, never
on what happens to be cached, so a resumed run computes exactly what an uninterrupted one does.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from typing import Protocol

import httpx

from ..media import open_frame_source
from ..media.redaction import redact_text
from ..scenes.engine import SceneEngine, SceneFaces
from ..scenes.result import SceneIdentification
from .coverage import FaceDBCoverage
from .errors import BenchmarkError
from .models import BenchmarkParams, SceneResult, TestScene
from .scoring import FaceEvidence, error_result, score_identification
from .stashio import StashBridge

SIDECAR_TIMEOUT_S = 900.0


class Executor(Protocol):
    kind: str

    def run_scene(self, scene: TestScene, combos: Sequence[BenchmarkParams]) -> list[SceneResult]:
        """One result per combination, in order; failures become error results."""
        ...

    def close(self) -> None: ...


def _describe_error(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}".strip())


def filter_faces(scene: SceneFaces, min_face_size: int, min_face_quality: float) -> SceneFaces:
    """The faces of an analysis that also pass stricter size/quality filters (the same tests
    the engine's detection stage applies)."""
    keep = [
        i for i, f in enumerate(scene.faces)
        if min(f.face.box.w, f.face.box.h) >= min_face_size and f.face.quality >= min_face_quality
    ]
    if len(keep) == len(scene.faces):
        return scene
    return SceneFaces(
        source=scene.source, source_kind=scene.source_kind, faces=[scene.faces[i] for i in keep],
        vecs=scene.vecs[keep], faces_detected=scene.faces_detected, frames_analysed=scene.frames_analysed,
        frame_failures=scene.frame_failures, timings=scene.timings, seconds=scene.seconds,
    )


class InProcessExecutor:
    """The scene engine in this process, reading media from Stash."""

    kind = "in-process"

    def __init__(self, engine: SceneEngine, bridge: StashBridge, coverage: FaceDBCoverage, *, cache_limit: int = 256) -> None:
        self.engine = engine
        self.bridge = bridge
        self.coverage = coverage
        # (scene id, analysis key, face size, face quality) -> analysed faces, crops dropped.
        self._cache: OrderedDict[tuple, SceneFaces] = OrderedDict()
        self._cache_limit = cache_limit
        self.cacheable: set[str] = set()

    def _analyse(self, scene: TestScene, params: BenchmarkParams) -> SceneFaces:
        key = (scene.scene_id, params.analysis_key(), params.min_face_size, params.min_face_quality)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        stash_scene = self.bridge.scene(scene.scene_id)
        paths = stash_scene.paths
        with open_frame_source(
            self.bridge.stream_url(stash_scene),
            headers=self.bridge.media_headers(),
            sprite_vtt=self.bridge.absolute(paths.vtt),
            sprite_image=self.bridge.absolute(paths.sprite),
            screenshot=self.bridge.absolute(paths.screenshot),
        ) as source:
            faces = self.engine.analyse(source, params.to_scene_params())
        for f in faces.faces:
            # Benchmarks show no thumbnails; kept for every cached scene they would add up.
            f.face.crop = None
            f.thumbnail = None
        if scene.scene_id in self.cacheable:
            self._cache[key] = faces
            while len(self._cache) > self._cache_limit:
                self._cache.popitem(last=False)
        return faces

    def run_scene(self, scene: TestScene, combos: Sequence[BenchmarkParams]) -> list[SceneResult]:
        results: list[SceneResult | None] = [None] * len(combos)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, p in enumerate(combos):
            groups[p.analysis_key()].append(i)
        for indices in groups.values():
            first = combos[indices[0]]
            analysis = BenchmarkParams.model_validate({
                **first.model_dump(),
                "min_face_size": min(combos[i].min_face_size for i in indices),
                "min_face_quality": min(combos[i].min_face_quality for i in indices),
            })
            start = time.perf_counter()
            try:
                faces = self._analyse(scene, analysis)
            except Exception as exc:  # recorded per scene: media, network and decoder failures alike
                message = _describe_error(exc)
                for i in indices:
                    results[i] = error_result(scene, message, time.perf_counter() - start)
                continue
            for i in indices:
                p = combos[i]
                t = time.perf_counter()
                try:
                    subset = filter_faces(faces, p.min_face_size, p.min_face_quality)
                    identification = self.engine.decide(subset, p.to_scene_params())
                    evidence = FaceEvidence.from_faces(subset.vecs, [f.frame for f in subset.faces], p.cluster_threshold)
                    elapsed = faces.seconds + time.perf_counter() - t
                    results[i] = score_identification(scene, identification, self.coverage, evidence, elapsed)
                except Exception as exc:
                    results[i] = error_result(scene, _describe_error(exc), time.perf_counter() - t)
        return [r for r in results if r is not None]

    def close(self) -> None:
        self._cache.clear()


class SidecarExecutor:
    """A running Stash Sense sidecar: ``POST /identify/scene`` with the scene id and every
    engine parameter (the sidecar reads the scene from its own Stash, which must be the Stash
    the benchmark selected from). The answer carries no face descriptors, so whether a missed
    performer was on screen is judged from the persons' candidate lists instead."""

    kind = "sidecar"

    def __init__(self, url: str, coverage: FaceDBCoverage, *, api_key: str | None = None, timeout: float = SIDECAR_TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.coverage = coverage
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def check(self, face_db_version: str) -> None:
        """Fail early, with the reason, when the sidecar cannot be reached, refuses the key, or
        serves another face DB than ``--db`` (whose coverage figures would then be wrong)."""
        try:
            response = self._http.get("/database/info")
        except httpx.HTTPError as exc:
            raise BenchmarkError(f"sidecar at {self.url} is unreachable: {_describe_error(exc)}") from None
        if response.status_code in (401, 403):
            raise BenchmarkError(f"sidecar at {self.url} refused the API key (HTTP {response.status_code}); "
                                 "pass --sidecar-api-key or set STASH_SENSE_API_KEY")
        if response.status_code >= 400:
            raise BenchmarkError(f"sidecar at {self.url} cannot serve identifications: HTTP {response.status_code} "
                                 f"({_detail(response)})")
        try:
            version = response.json().get("db_version")
        except (ValueError, AttributeError):
            version = None
        if version != face_db_version:
            raise BenchmarkError(
                f"sidecar at {self.url} serves face DB version {version}, but --db is version {face_db_version}: "
                "point --db at the sidecar's face DB"
            )

    @staticmethod
    def request_body(scene: TestScene, params: BenchmarkParams) -> dict:
        # No thumbnails, no tagged-performer boost (the tags are the answer key) and no
        # fingerprint saved: a benchmark must not change the sidecar's state.
        return {
            "scene_id": scene.scene_id,
            "params": params.to_scene_params().model_dump(mode="json"),
            "thumbnail_format": "none",
            "boost_tagged": False,
            "save_fingerprint": False,
        }

    def run_scene(self, scene: TestScene, combos: Sequence[BenchmarkParams]) -> list[SceneResult]:
        out = []
        for p in combos:
            start = time.perf_counter()
            try:
                response = self._http.post("/identify/scene", json=self.request_body(scene, p))
                if response.status_code >= 400:
                    raise RuntimeError(f"sidecar answered HTTP {response.status_code}: {_detail(response)}")
                data = response.json()
                if isinstance(data, dict) and "performers" not in data and isinstance(data.get("result"), dict):
                    data = data["result"]
                identification = SceneIdentification.model_validate(data)
                out.append(score_identification(scene, identification, self.coverage, None, time.perf_counter() - start))
            except Exception as exc:
                out.append(error_result(scene, _describe_error(exc), time.perf_counter() - start))
        return out

    def close(self) -> None:
        self._http.close()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]
