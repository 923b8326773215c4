"""The stash-box emulator serving folders of labelled photos: one performer per identity across
folders, paging that never skips or repeats, edits through the ``/_emulator/`` API (and
in-process) that queries see at once, the 429 rate limit and its counters, id namespaces, and
the ``serve-stashbox`` command.

Everything goes over real HTTP; every GraphQL document sent is first validated against the real
stash-box schema. The photo folders are symlinks to a few dozen real LFW and celeb17 photos.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, validate

from api_helpers import stop_process
from conftest import link_gallery
from stash_helpers import stashbox_schema_or_skip
from stash_sense.devtools.emulator import create_stashbox_app, run_in_thread
from stash_sense.devtools.emulator.stashbox_catalog import CatalogError, image_id_for
from stash_sense.devtools.emulator.stashbox_sources import performer_stash_id

KEY = "box-catalog-key-5c1e9a"
LFW_EXTRA = ["Angelina_Jolie", "Tom_Hanks"]  # in lfw/people and lfw/tuning
PEOPLE_ONLY = 14  # further lfw/people identities, one photo each
TUNING_ONLY = 3  # lfw/tuning identities that are not in lfw/people
CELEB = {"Tom Hanks": 2, "Megan Fox": 2}  # Tom Hanks is LFW's Tom_Hanks too
IDENTITIES = len(LFW_EXTRA) + PEOPLE_ONLY + TUNING_ONLY + 1  # + Megan Fox

PERFORMER_FIELDS = "id name disambiguation aliases gender country urls { url site { name } } deleted merged_ids merged_into_id " \
    "scene_count created updated images { id url width height }"
FIND = f"query Find($id: ID!) {{ findPerformer(id: $id) {{ {PERFORMER_FIELDS} }} }}"
QUERY = f"query Query($input: PerformerQueryInput!) {{ queryPerformers(input: $input) {{ count performers {{ {PERFORMER_FIELDS} }} }} }}"
SEARCH = "query Search($term: String!) { searchPerformers(term: $term) { count performers { id name } } }"


# -- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folders(facedata: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """lfw/people, lfw/tuning and celeb17 in small: 20 identities, 2 of them in three folders."""
    lfw = lfw_or_skip(facedata)
    root = tmp_path_factory.mktemp("box-folders")
    people_names = sorted(n for n in os.listdir(lfw / "people") if n not in LFW_EXTRA)[:PEOPLE_ONLY]
    tuning_names = sorted(set(os.listdir(lfw / "tuning")) - set(os.listdir(lfw / "people")))[:TUNING_ONLY]
    people = link_gallery(lfw / "people", root / "people", {**dict.fromkeys(LFW_EXTRA, 2), **dict.fromkeys(people_names, 1)})
    tuning = link_gallery(lfw / "tuning", root / "tuning", {**dict.fromkeys(LFW_EXTRA, 2), **dict.fromkeys(tuning_names, 1)})
    celeb = link_gallery(facedata / "celeb17", root / "celeb17", CELEB)
    return [people, tuning, celeb]


def lfw_or_skip(facedata: Path) -> Path:
    lfw = facedata / "lfw"
    if not (lfw / "people").is_dir() or not (lfw / "tuning").is_dir():
        pytest.skip(f"LFW (lfw/people and lfw/tuning) not found under {facedata} (set STASH_SENSE_FACEDATA)")
    return lfw


@pytest.fixture(scope="module")
def schema() -> Any:
    return stashbox_schema_or_skip()


@pytest.fixture
def box(folders: list[Path], schema: Any) -> Iterator[tuple[str, Any]]:
    """A fresh emulator over ``folders`` (edits do not leak between tests): (URL, app)."""
    app = create_stashbox_app(folders=folders, api_key=KEY)
    with run_in_thread(app) as url:
        yield url, app


def post_graphql(url: str, schema: Any, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    """POST a document that the real stash-box schema accepts (checked first)."""
    errors = validate(schema, parse(query))
    assert not errors, f"invalid against the stash-box schema: {errors}"
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": KEY}, timeout=60)


def gql(url: str, schema: Any, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post_graphql(url, schema, query, variables)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def admin(url: str, method: str, path: str, body: Any = None, *, status: int = 200) -> dict[str, Any]:
    response = httpx.request(method, f"{url}/_emulator/{path}", json=body, headers={"ApiKey": KEY}, timeout=60)
    assert response.status_code == status, response.text
    return response.json()


def find(url: str, schema: Any, performer_id: str) -> dict[str, Any]:
    return gql(url, schema, FIND, {"id": performer_id})["findPerformer"]


def query(url: str, schema: Any, **input: Any) -> dict[str, Any]:
    return gql(url, schema, QUERY, {"input": input})["queryPerformers"]


def all_pages(url: str, schema: Any, per_page: int, **input: Any) -> list[dict[str, Any]]:
    """Every performer, page by page; checks that each page reports the same count."""
    performers: list[dict[str, Any]] = []
    first = query(url, schema, page=1, per_page=per_page, **input)
    pages = -(-first["count"] // per_page)
    performers.extend(first["performers"])
    for page in range(2, pages + 2):  # one page past the end: it must be empty
        result = query(url, schema, page=page, per_page=per_page, **input)
        assert result["count"] == first["count"]
        assert (result["performers"] == []) == (page > pages)
        performers.extend(result["performers"])
    assert len(performers) == first["count"]
    return performers


def parse_time(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", text), text  # RFC 3339, UTC
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def photo(facedata: Path, identity: str, index: int = 0) -> str:
    return str(sorted((facedata / "celeb17" / identity).iterdir())[index])


# -- the catalogue ---------------------------------------------------------------------------------


def test_same_identity_in_several_folders_is_one_performer(box: tuple[str, Any], schema: Any, folders: list[Path]) -> None:
    from PIL import Image

    url, _app = box
    assert query(url, schema)["count"] == IDENTITIES
    tom = find(url, schema, performer_stash_id("Tom_Hanks"))
    assert tom["id"] == performer_stash_id("Tom Hanks")  # LFW's and celeb17's spelling: one id
    assert tom["name"] == "Tom Hanks" and tom["deleted"] is False and tom["scene_count"] == 0
    assert tom["aliases"] == [] and tom["urls"] == [] and tom["merged_ids"] == [] and tom["merged_into_id"] is None
    sources = [*sorted((folders[0] / "Tom_Hanks").iterdir()), *sorted((folders[1] / "Tom_Hanks").iterdir()),
               *sorted((folders[2] / "Tom Hanks").iterdir())]
    assert len(tom["images"]) == len(sources) == 6  # the images of all three folders, in folder order
    assert tom["images"][0]["id"] == image_id_for(tom["id"], f"Tom_Hanks/{sources[0].name}")
    for image, source in zip(tom["images"], sources):
        assert image["url"] == f"{url}/images/{image['id']}"
        response = httpx.get(image["url"])  # public: no key
        assert response.status_code == 200 and response.content == source.read_bytes()
        assert (image["width"], image["height"]) == Image.open(source).size
    angelina = query(url, schema, name='"Angelina Jolie"')["performers"]
    assert len(angelina) == 1 and len(angelina[0]["images"]) == 4
    assert parse_time(tom["created"]) == parse_time(tom["updated"])


def test_paging_returns_every_performer_exactly_once(box: tuple[str, Any], schema: Any, facedata: Path) -> None:
    url, app = box
    # Ties to break: a second "Megan Fox" (same NAME), SCENE_COUNT 0 for all, no birthdates.
    admin(url, "POST", "performers", {"name": "Megan Fox", "disambiguation": "second", "images": [photo(facedata, "Megan Fox", 5)]},
          status=201)
    for performer in app.state.catalog.active()[:3]:
        app.state.catalog.update_performer(performer.id, aliases=["edited"])
    expected = {p.id for p in app.state.catalog.active()}
    assert len(expected) == IDENTITIES + 1
    for sort in ("UPDATED_AT", "NAME", "CREATED_AT", "SCENE_COUNT", "BIRTHDATE", "POPULARITY"):
        for direction in ("ASC", "DESC"):
            listed = all_pages(url, schema, 4, sort=sort, direction=direction)
            ids = [p["id"] for p in listed]
            assert len(ids) == len(set(ids)) and set(ids) == expected, (sort, direction)
            if sort == "UPDATED_AT":
                times = [parse_time(p["updated"]) for p in listed]
                assert times == sorted(times, reverse=direction == "DESC")
                assert len(set(times)) == len(times)  # every performer has its own time
            if sort == "NAME":
                names = [p["name"].casefold() for p in listed]
                assert names == sorted(names, reverse=direction == "DESC")


# -- edits ---------------------------------------------------------------------------------------------


def test_create_edit_and_delete_are_visible(box: tuple[str, Any], schema: Any, facedata: Path) -> None:
    url, _app = box
    before = query(url, schema, sort="UPDATED_AT")["performers"][0]
    created = admin(url, "POST", "performers", {
        "name": "Jennifer Lawrence", "images": [photo(facedata, "Jennifer Lawrence", 0), photo(facedata, "Jennifer Lawrence", 1)],
        "aliases": ["J-Law"], "gender": "FEMALE", "country": "US", "urls": ["https://example.org/jennifer"],
    }, status=201)
    found = find(url, schema, created["id"])
    assert found["name"] == "Jennifer Lawrence" and found["aliases"] == ["J-Law"] and found["gender"] == "FEMALE"
    assert found["country"] == "US" and found["urls"] == [{"url": "https://example.org/jennifer", "site": {"name": "example.org"}}]
    assert len(found["images"]) == 2 and httpx.get(found["images"][1]["url"]).content == Path(photo(facedata, "Jennifer Lawrence", 1)).read_bytes()
    assert parse_time(found["updated"]) > parse_time(before["updated"])
    assert query(url, schema)["count"] == IDENTITIES + 1
    assert query(url, schema, alias="j-law")["performers"][0]["id"] == created["id"]
    assert gql(url, schema, SEARCH, {"term": "J-Law"})["searchPerformers"]["performers"] == [{"id": created["id"], "name": "Jennifer Lawrence"}]

    edited = admin(url, "PATCH", f"performers/{created['id']}", {
        "name": "Jennifer S. Lawrence", "disambiguation": "actress", "aliases": [], "gender": None,
        "add_images": [photo(facedata, "Jennifer Lawrence", 2)], "remove_images": [found["images"][0]["id"]],
    })
    found = find(url, schema, created["id"])
    assert found == {**found, "name": "Jennifer S. Lawrence", "disambiguation": "actress", "aliases": [], "gender": None}
    assert [i["id"] for i in found["images"]] == [i["id"] for i in edited["images"]] and len(found["images"]) == 2
    assert found["images"][0]["id"] == created["images"][1]["id"]
    assert parse_time(found["updated"]) > parse_time(created["updated"])
    assert query(url, schema, sort="UPDATED_AT")["performers"][0]["id"] == created["id"]  # DESC: newest first
    assert query(url, schema, names="actress")["count"] == 1  # names searches the disambiguation too

    deleted = admin(url, "DELETE", f"performers/{created['id']}")
    assert deleted["deleted"] is True and parse_time(deleted["updated"]) > parse_time(found["updated"])
    assert find(url, schema, created["id"])["deleted"] is True  # still found by id, as on stash-box
    assert query(url, schema)["count"] == IDENTITIES
    assert created["id"] not in {p["id"] for p in all_pages(url, schema, 25, sort="UPDATED_AT")}
    assert gql(url, schema, SEARCH, {"term": "Lawrence"})["searchPerformers"]["count"] == 0


def test_admin_api_refuses_bad_edits(box: tuple[str, Any], facedata: Path) -> None:
    url, _app = box
    tom = performer_stash_id("Tom Hanks")
    assert "no performer" in admin(url, "PATCH", f"performers/{uuid.uuid4()}", {"name": "x"}, status=404)["error"]
    assert "gender" in admin(url, "PATCH", f"performers/{tom}", {"gender": "ROBOT"}, status=400)["error"]
    assert "unknown field" in admin(url, "PATCH", f"performers/{tom}", {"nmae": "x"}, status=400)["error"]
    assert "not found" in admin(url, "POST", "performers", {"name": "X", "images": ["/nowhere/x.jpg"]}, status=400)["error"]
    assert "absolute" in admin(url, "POST", "performers", {"name": "X", "images": ["x.jpg"]}, status=400)["error"]
    assert "name" in admin(url, "POST", "performers", {"images": []}, status=400)["error"]
    assert "no image" in admin(url, "PATCH", f"performers/{tom}", {"remove_images": ["nope"]}, status=400)["error"]
    assert "itself" in admin(url, "POST", "merge", {"source_ids": [tom], "target_id": tom}, status=400)["error"]
    assert "source_ids" in admin(url, "POST", "merge", {"source_ids": 5, "target_id": tom}, status=400)["error"]
    assert "no performer" in admin(url, "POST", "merge", {"source_ids": [tom], "target_id": "nope"}, status=404)["error"]
    admin(url, "DELETE", f"performers/{tom}")
    assert "deleted" in admin(url, "PATCH", f"performers/{tom}", {"name": "x"}, status=400)["error"]
    assert "deleted" in admin(url, "DELETE", f"performers/{tom}", status=400)["error"]
    # The admin API needs the key, like GraphQL.
    assert httpx.get(f"{url}/_emulator/stats").status_code == 401


def test_merge_moves_images_and_redirects(box: tuple[str, Any], schema: Any) -> None:
    url, app = box
    a, b, c = (performer_stash_id(n) for n in ("Tom Hanks", "Angelina Jolie", "Megan Fox"))
    d = next(p.id for p in app.state.catalog.active() if p.id not in {a, b, c})
    images = {pid: [i["id"] for i in find(url, schema, pid)["images"]] for pid in (a, b, c, d)}
    before = find(url, schema, c)
    target = admin(url, "POST", "merge", {"source_ids": [a, b], "target_id": c})
    assert target["merged_ids"] == [a, b] and [i["id"] for i in target["images"]] == images[c] + images[a] + images[b]
    assert parse_time(target["updated"]) > parse_time(before["updated"])
    for source in (a, b):
        found = find(url, schema, source)
        assert found["deleted"] is True and found["merged_into_id"] == c
    assert find(url, schema, c)["merged_ids"] == [a, b]
    assert query(url, schema)["count"] == IDENTITIES - 2
    assert gql(url, schema, SEARCH, {"term": "Tom Hanks"})["searchPerformers"]["count"] == 0
    # Merging the target on: older redirects follow it (one hop, as stash-box rewrites them).
    final = admin(url, "POST", "merge", {"source_ids": [c], "target_id": d})
    assert final["merged_ids"] == [c, a, b] and len(final["images"]) == len(images[d]) + len(images[c] + images[a] + images[b])
    assert {find(url, schema, pid)["merged_into_id"] for pid in (a, b, c)} == {d}
    assert "deleted" in admin(url, "POST", "merge", {"source_ids": [a], "target_id": d}, status=400)["error"]


def test_in_process_edits_and_a_clock_that_stands_still(folders: list[Path], schema: Any) -> None:
    frozen = datetime(2030, 5, 1, tzinfo=UTC)
    app = create_stashbox_app(folders=folders, api_key=KEY, clock=lambda: frozen)
    catalog = app.state.catalog
    with run_in_thread(app) as url:
        tom = performer_stash_id("Tom Hanks")
        first = catalog.update_performer(tom, country="US")
        second = catalog.update_performer(tom, country="GB")
        assert first.updated == frozen and second.updated > first.updated  # strictly later all the same
        found = find(url, schema, tom)
        assert found["country"] == "GB" and parse_time(found["updated"]) == second.updated
        created = catalog.create_performer("Nobody Known", aliases=["N. K."])
        assert query(url, schema, name="nobody")["performers"][0]["id"] == created.id
        merged = catalog.merge_performers([created.id], tom)
        assert merged.merged_ids == (created.id,) and find(url, schema, created.id)["merged_into_id"] == tom
        with pytest.raises(CatalogError, match="deleted"):
            catalog.delete_performer(created.id)


# -- traffic -------------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_and_counts(folders: list[Path], schema: Any) -> None:
    app = create_stashbox_app(folders=folders, api_key=KEY, max_requests_per_second=0.25)
    with run_in_thread(app) as url:
        version = "query Version { version { version } }"
        assert post_graphql(url, schema, version).status_code == 200  # the bucket starts full: one token
        refused = post_graphql(url, schema, version)
        assert refused.status_code == 429 and "Too Many Requests" in refused.text
        assert refused.headers["Retry-After"] == "4"  # a token every 4 s, in whole seconds
        image = f"{url}/images/{app.state.catalog.get(performer_stash_id('Tom Hanks')).image_ids[0]}"
        assert httpx.get(image).status_code == 429  # images are limited too
        stats = admin(url, "GET", "stats")  # the admin API is neither limited nor counted
        assert stats == {"requests": 3, "graphql_requests": 2, "image_requests": 1, "throttled_429": 2,
                         "by_path": {"/graphql": 2, image.removeprefix(url): 1}}
        admin(url, "POST", "stats/reset")
        assert admin(url, "GET", "stats")["requests"] == 0


def test_requests_pass_again_after_retry_after(folders: list[Path], schema: Any) -> None:
    app = create_stashbox_app(folders=folders, api_key=KEY, max_requests_per_second=4)
    with run_in_thread(app) as url:
        version = "query Version { version { version } }"
        answers = [post_graphql(url, schema, version) for _ in range(12)]
        refused = [r for r in answers if r.status_code == 429]
        assert refused and sum(r.status_code == 200 for r in answers) >= 4
        assert all(r.status_code in (200, 429) for r in answers)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        time.sleep(int(refused[-1].headers["Retry-After"]))
        assert post_graphql(url, schema, version).status_code == 200
        assert httpx.post(f"{url}/graphql", json={"query": version}).status_code == 401  # counted, not throttled
        stats = app.state.stats.snapshot()
        assert stats["throttled_429"] == len(refused) and stats["requests"] == stats["graphql_requests"] == 14


# -- ids -----------------------------------------------------------------------------------------------


def test_id_namespace_serves_the_same_people_under_other_ids(folders: list[Path], schema: Any) -> None:
    def listing(namespace: str) -> dict[str, tuple[str, tuple[str, ...]]]:
        with run_in_thread(create_stashbox_app(folders=folders, api_key=KEY, id_namespace=namespace)) as url:
            performers = all_pages(url, schema, 50, sort="NAME", direction="ASC")
        return {p["name"]: (p["id"], tuple(i["id"] for i in p["images"])) for p in performers}

    stashdb, again, fansdb = listing(""), listing(""), listing("fansdb")
    assert stashdb == again  # deterministic: the same folders, the same ids
    assert stashdb.keys() == fansdb.keys() and len(stashdb) == IDENTITIES
    assert not {i for i, _ in stashdb.values()} & {i for i, _ in fansdb.values()}
    assert not {x for _, imgs in stashdb.values() for x in imgs} & {x for _, imgs in fansdb.values() for x in imgs}
    assert fansdb["Tom Hanks"][0] == performer_stash_id("Tom_Hanks", "fansdb")


def test_app_arguments_are_checked(folders: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either a sample library or photo folders"):
        create_stashbox_app(api_key=None)
    with pytest.raises(ValueError, match="either a sample library or photo folders"):
        create_stashbox_app(tmp_path, folders=folders, api_key=None)
    with pytest.raises(FileNotFoundError):
        create_stashbox_app(folders=[tmp_path / "missing"], api_key=None)
    with pytest.raises(ValueError, match="given twice"):
        create_stashbox_app(folders=[folders[0], folders[0]], api_key=None)
    with pytest.raises(ValueError, match="positive"):
        create_stashbox_app(folders=folders, api_key=None, max_requests_per_second=0)


# -- the command ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either --library or --from-folder"),
        (["--library", "{tmp}", "--from-folder", "{tmp}"], "either --library or --from-folder"),
        (["--from-folder", "{tmp}/missing"], "not found"),
        (["--from-folder", "{tmp}"], "holds no <identity>/<image> folders"),
        (["--library", "{tmp}"], "library.json not found"),
    ],
)
def test_cli_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from stash_sense.cli import app

    (tmp_path / "notes.txt").write_text("not an identity folder")
    argv = ["emulator", "serve-stashbox", *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def serve_cli(args: list[str], *, timeout: float) -> tuple[subprocess.Popen, str, float]:
    """``stash-sense emulator serve-stashbox ARGS`` in a child process (the key in its
    environment); returns it, its URL and the seconds it took to answer GraphQL."""
    from stash_sense.benchmark.api_load import free_port

    port = free_port()
    command = [sys.executable, "-c", "from stash_sense.cli import main; main()", "emulator", "serve-stashbox", *args, "--port", str(port)]
    started = time.monotonic()
    proc = subprocess.Popen(command, env={**os.environ, "STASH_SENSE_STASHBOX_API_KEY": KEY}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"serve-stashbox exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.post(f"{url}/graphql", json={"query": "{ version { version } }"}, headers={"ApiKey": KEY}, timeout=2).status_code == 200:
                return proc, url, time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > timeout:
            stop_process(proc)
            raise AssertionError(f"serve-stashbox did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def test_cli_serves_folders_under_a_namespace(folders: list[Path], schema: Any) -> None:
    args = [a for folder in folders for a in ("--from-folder", str(folder))] + ["--id-namespace", "other-box"]
    proc, url, _ = serve_cli([*args, "--max-requests-per-second", "100"], timeout=60)
    try:
        tom = query(url, schema, name='"Tom Hanks"')
        assert tom["count"] == 1 and tom["performers"][0]["id"] == performer_stash_id("Tom Hanks", "other-box")
        assert query(url, schema)["count"] == IDENTITIES
    finally:
        stop_process(proc)
    output = proc.stdout.read() if proc.stdout else ""
    assert f"serving {IDENTITIES} performers" in output and KEY not in output


def test_cli_serves_the_whole_lfw_and_celeb17_quickly(facedata: Path, schema: Any) -> None:
    lfw = lfw_or_skip(facedata)
    folders = [lfw / "people", lfw / "tuning", facedata / "celeb17"]
    proc, url, seconds = serve_cli([a for folder in folders for a in ("--from-folder", str(folder))], timeout=120)
    try:
        result = query(url, schema, sort="NAME", direction="ASC", per_page=100, page=3)
        assert 5_700 <= result["count"] <= 6_000 and len(result["performers"]) == 100
        angelina = query(url, schema, name='"Angelina Jolie"')["performers"][0]
        assert len(angelina["images"]) == 4 + 6 + 30  # lfw/people + lfw/tuning + celeb17
    finally:
        stop_process(proc)
    print(f"serve-stashbox over {result['count']} identities answered after {seconds:.1f} s ({proc.stdout.read().strip() if proc.stdout else ''})")
    assert seconds < 60
