"""Property-based fuzzing of the whole API from its own OpenAPI description (schemathesis):
valid and invalid requests to every operation, over real HTTP, against a fully configured
sidecar (face DB loaded, emulated Stash). Not one may get a 5xx, answers must match the
documented schemas, and the server must still be healthy afterwards.

The default run sends ~150-200 requests; ``--runslow`` adds the long run (>= 1,000)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from api_helpers import SIDECAR_KEY, api_assets, running_emulator, running_sidecar, sidecar_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
QUICK_EXAMPLES = 25
LONG_EXAMPLES = 250
SENT: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path):
    assets = api_assets(tmp_path_factory, facedata)
    with running_emulator(assets.library) as stash_url:
        settings_ = sidecar_settings(
            tmp_path_factory.mktemp("fuzz"), assets.face_db, stash_url=stash_url, fetch_timeout_s=3.0, fingerprint_frames=2,
            max_upload_mb=2.0, media_roots=str(assets.library),
        )
        with running_sidecar(settings_) as (url, _app):
            yield url


# The quick run only fuzzes; the long run adds schemathesis' example and coverage phases
# (boundary values, every documented enum, unsupported methods, missing fields).
_QUICK_CONFIG = "[phases.coverage]\nenabled = false\n[phases.examples]\nenabled = false\n"


@pytest.fixture
def quick_schema(fuzz_target: str):
    return schemathesis.openapi.from_url(f"{fuzz_target}/openapi.json", config=SchemathesisConfig.from_str(_QUICK_CONFIG))


@pytest.fixture
def full_schema(fuzz_target: str):
    return schemathesis.openapi.from_url(f"{fuzz_target}/openapi.json")


quick = schemathesis.pytest.from_fixture("quick_schema")
full = schemathesis.pytest.from_fixture("full_schema")


def _call_and_check(case, base_url: str, label: str) -> None:
    response = case.call(base_url=base_url, headers={"X-API-Key": SIDECAR_KEY}, timeout=180)
    SENT[label] += 1
    SENT[f"status:{response.status_code}"] += 1
    case.validate_response(response, checks=CHECKS)


_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)


@quick.parametrize()
@settings(max_examples=QUICK_EXAMPLES, **_SETTINGS)
def test_fuzz_quick(case, fuzz_target: str) -> None:
    _call_and_check(case, fuzz_target, "quick")


@pytest.mark.slow
@full.parametrize()
@settings(max_examples=LONG_EXAMPLES, **{**_SETTINGS, "derandomize": False})
def test_fuzz_long(case, fuzz_target: str) -> None:
    _call_and_check(case, fuzz_target, "long")


def test_fuzzing_sent_enough_requests_and_the_server_is_healthy(fuzz_target: str, request: pytest.FixtureRequest) -> None:
    if not SENT["quick"]:
        pytest.skip("run together with test_fuzz_quick")
    statuses = {k: v for k, v in SENT.items() if k.startswith("status:")}
    print(f"fuzzing sent {SENT['quick']} (quick) + {SENT['long']} (long) requests; answers: {statuses}")
    assert SENT["quick"] >= 150
    if request.config.getoption("--runslow"):
        assert SENT["long"] >= 1000
    assert not any(int(k.split(":")[1]) >= 500 for k in statuses)
    assert httpx.get(f"{fuzz_target}/health", timeout=30).json()["face_db"]["loaded"] is True
