"""Typed Stash models, endpoint-qualified identities and URL redaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stash_sense.stash.client import image_data_url
from stash_sense.stash.models import (
    Identity,
    Performer,
    Scene,
    StashBoxConfig,
    StashID,
    VideoFile,
    normalize_endpoint,
    stash_id_for,
)
from stash_sense.stash.redaction import Redactor, redact_url, strip_secret_params

STASHDB = "https://stashdb.org/graphql"
FANSDB = "https://fansdb.cc/graphql"


def test_identity_is_endpoint_qualified() -> None:
    a = Identity(endpoint="https://StashDB.org/graphql/", stash_id=" 1234 ")
    b = Identity(endpoint=STASHDB, stash_id="1234")
    other = Identity(endpoint=FANSDB, stash_id="1234")
    assert a == b and hash(a) == hash(b)
    assert a != other  # same UUID, different database: different performer
    assert len({a, b, other}) == 2
    assert str(a) == "https://stashdb.org/graphql#1234"
    assert Identity.parse(str(other)) == other


@pytest.mark.parametrize(
    ("endpoint", "stash_id"),
    [("", "x"), ("stashdb.org", "x"), (STASHDB, ""), (STASHDB, "  "), (STASHDB, "a#b")],
)
def test_identity_rejects_bad_parts(endpoint: str, stash_id: str) -> None:
    with pytest.raises(ValidationError):
        Identity(endpoint=endpoint, stash_id=stash_id)


def test_identity_parse_needs_separator() -> None:
    with pytest.raises(ValueError, match="endpoint URL"):
        Identity.parse("just-a-uuid")


def test_stash_id_keeps_stash_spelling_but_matches_canonically() -> None:
    sid = StashID(endpoint="https://stashdb.org/graphql/", stash_id="u1")
    assert sid.to_input() == {"endpoint": "https://stashdb.org/graphql/", "stash_id": "u1"}
    assert sid.identity == Identity(endpoint=STASHDB, stash_id="u1")
    assert stash_id_for([StashID(endpoint=FANSDB, stash_id="f"), sid], STASHDB) == sid
    assert stash_id_for([sid], FANSDB) is None
    assert normalize_endpoint("HTTPS://StashDB.org:443/graphql") == STASHDB
    assert normalize_endpoint("http://stash.local:9999/graphql/") == "http://stash.local:9999/graphql"


def test_models_tolerate_extra_and_null_fields() -> None:
    scene = Scene.model_validate(
        {
            "id": "9",
            "title": None,
            "brand_new_field": {"x": 1},
            "files": [{"id": "1", "width": 1920, "height": 1080, "fingerprints": None, "audio_codec": "aac"}],
            "paths": {"stream": "http://s/scene/9/stream", "webp": "http://s/scene/9/webp"},
            "stash_ids": None,
            "performers": None,
            "sceneStreams": [{"url": "http://s/scene/9/stream.mp4"}],
        }
    )
    assert scene.primary_file is not None and scene.primary_file.short_side == 1080
    assert scene.primary_file.fingerprint("phash") is None
    assert scene.stash_ids == [] and scene.performers == [] and scene.identities() == []
    assert scene.scene_streams[0].mime_type is None
    assert Scene.model_validate({"id": "1"}).primary_file is None
    with pytest.raises(ValidationError):
        Scene.model_validate({"title": "no id"})


def test_portrait_video_resolution_uses_short_side() -> None:
    assert VideoFile(id="1", width=1080, height=1920).short_side == 1080
    assert VideoFile(id="1", width=1280, height=720).short_side == 720


def test_performer_placeholder_image() -> None:
    real = Performer(id="1", name="A", image_path="http://s/performer/1/image?t=5")
    placeholder = Performer(id="2", name="B", image_path="http://s/performer/2/image?t=5&default=true")
    assert real.has_image and not placeholder.has_image
    assert not Performer(id="3", name="C").has_image


def test_stash_box_config_hides_key() -> None:
    cfg = StashBoxConfig(endpoint=STASHDB, api_key="very-secret-key", name="StashDB", max_requests_per_minute=0)
    assert cfg.requests_per_minute == 240
    assert "very-secret-key" not in repr(cfg) and "very-secret-key" not in str(cfg)
    assert cfg.api_key.get_secret_value() == "very-secret-key"


def test_redaction() -> None:
    url = "http://stash:9999/scene/1/stream?apikey=SECRET123&t=5"
    assert redact_url(url) == "http://stash:9999/scene/1/stream?apikey=***&t=5"
    assert strip_secret_params(url) == "http://stash:9999/scene/1/stream?t=5"
    assert "pw" not in redact_url("http://user:pw@stash/x")
    assert Redactor(["SECRET123", None, "ab"])("x SECRET123 y ab") == "x *** y ab"


def test_image_data_url() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    assert image_data_url(png).startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="JPEG, PNG"):
        image_data_url(b"not an image")
