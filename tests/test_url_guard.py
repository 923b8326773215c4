"""URLs the sidecar fetches for a caller: the configured Stash and public hosts only, unless
private addresses are allowed in the settings (real sidecar, real HTTP, no face DB needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import client, running_sidecar, sidecar_settings
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stash_sense.api.url_guard import is_public
from stash_sense.devtools.emulator import run_in_thread


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("10.1.2.3", False), ("192.168.1.10", False), ("172.16.0.1", False),
     ("127.0.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
     ("fe80::1", False), ("fd00::1", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False)],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


def _local_server(target: str | None = None) -> Starlette:
    async def image(_request):  # noqa: ANN001
        return Response(b"not really an image", media_type="image/jpeg")

    async def bounce(_request):  # noqa: ANN001
        return RedirectResponse(f"{target}/image.jpg", status_code=302)

    return Starlette(routes=[Route("/image.jpg", image), Route("/bounce", bounce)])


def test_private_addresses_are_refused_unless_allowed(tmp_path: Path) -> None:
    with run_in_thread(_local_server()) as local:
        with running_sidecar(sidecar_settings(tmp_path / "a", None)) as (url, _), client(url) as c:
            for target in ("http://169.254.169.254/latest/meta-data/", f"{local}/image.jpg", "http://[::1]:9/x.jpg",
                           "http://localhost:9/x.jpg"):
                r = c.post("/identify", json={"image_url": target})
                assert r.status_code == 400 and r.json()["error"] == "url_not_allowed", (target, r.text)
                assert "STASH_SENSE_ALLOW_PRIVATE_URLS" in r.json()["detail"]
            nowhere = c.post("/identify", json={"image_url": "http://no-such-host.invalid/x.jpg"})
            assert nowhere.status_code == 422 and nowhere.json()["error"] == "image_url_failed"
            scene = c.post("/identify/scene", json={"url": "http://169.254.169.254/v.mp4"})
            assert scene.status_code == 400 and scene.json()["error"] == "url_not_allowed"
            sprite = c.post("/identify/scene", json={"url": "http://93.184.216.34/v.mp4", "sprite_vtt": f"{local}/t.vtt"})
            assert sprite.status_code == 400 and sprite.json()["error"] == "url_not_allowed"
        allowed = sidecar_settings(tmp_path / "b", None, allow_private_urls=True)
        with running_sidecar(allowed) as (url, _), client(url) as c:
            r = c.post("/identify", json={"image_url": f"{local}/image.jpg"})
            assert r.json()["error"] != "url_not_allowed"  # fetched; then no face DB / not an image


def test_the_configured_stash_is_allowed_and_redirects_are_checked(tmp_path: Path) -> None:
    with run_in_thread(_local_server()) as inner, run_in_thread(_local_server(inner)) as stash:
        # No Stash key: redirects are followed, each hop checked.
        settings = sidecar_settings(tmp_path / "s", None, stash_url=stash)
        settings = settings.model_copy(update={"stash_api_key": None})
        with running_sidecar(settings) as (url, _), client(url) as c:
            direct = c.post("/identify", json={"image_url": f"{stash}/image.jpg"})
            assert direct.json()["error"] != "url_not_allowed"
            bounced = c.post("/identify", json={"image_url": f"{stash}/bounce"})
            assert bounced.status_code == 400 and bounced.json()["error"] == "url_not_allowed"
