"""Crawling a whole stash-box into a face DB: polite under 429s, resumable after SIGKILL, kept
current by ``db update`` — against the stash-box emulator serving real labelled photos."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from build_stash_helpers import one_worker  # noqa: F401 - in-process face work for small crawls
from crawl_helpers import assert_same_content, db_content, link_catalogue, spare_identities

from stash_sense.devtools.emulator import create_stashbox_app, run_in_thread
from stash_sense.facedb.crawl.lock import CrawlBusyError, endpoint_lock
from stash_sense.facedb.crawl.run import crawl_stashbox
from stash_sense.facedb.crawl.update import update_from_stashbox
from stash_sense.facedb.versions import current_dir

KEY = "box-crawl-key-31ab"
FAST = 6000  # requests per minute when the test is not about politeness
LFW, CELEB, PHOTOS = 24, 3, 3




@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Path:
    return link_catalogue(facedata, tmp_path_factory.mktemp("box-catalogue"), lfw=LFW, celeb=CELEB, per_identity=PHOTOS)


def _crawl(url: str, out: Path, **kwargs: object):
    return crawl_stashbox(f"{url}/graphql", out, api_key=KEY, progress=False, workers=1, **{"requests_per_minute": FAST, **kwargs})


def test_crawl_under_a_429_limit_gets_everyone_once_and_slows_down_once(catalogue: Path, tmp_path: Path) -> None:
    app = create_stashbox_app(folders=[catalogue], api_key=KEY, max_requests_per_second=8)
    with run_in_thread(app) as url:
        report = _crawl(url, tmp_path / "db", requests_per_minute=1800)  # 30/s against a server that takes 8/s
        stats = app.state.stats.snapshot()
    identities = LFW + CELEB
    content = db_content(tmp_path / "db")
    assert len(content) == identities  # every identity, once (db_content refuses two holders of one id)
    assert report.performers == identities and report.performers_with_faces >= identities - 1
    assert report.throttled_429 >= 1 and report.throttled_429 == stats["throttled_429"]
    assert report.throttled_after_slowdown == 0  # after the first 429 the crawl stayed under the budget
    assert report.images_downloaded == sum(len(list(d.iterdir())) for d in catalogue.iterdir())
    assert report.images_downloaded_twice == 0
    assert report.requests == stats["requests"]  # every request counted, refused ones included
    for key, performer in content.items():
        assert all(k.startswith(f"{url}/graphql#") for k in key)
        assert len(performer.faces) <= PHOTOS


def _served(catalogue: Path):
    return run_in_thread(create_stashbox_app(folders=[catalogue], api_key=KEY))


def _stored(db: Path) -> int:
    path = db / "performers.db"
    if not path.is_file():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:
        return con.execute("SELECT COUNT(*) FROM stashbox_performers").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def _cli_crawl(url: str, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "stash_sense.cli", "db", "build", "--from-stashbox", f"{url}/graphql", "--all-performers",
        "--out", str(out), "--stashbox-rate", str(FAST), "--no-progress", "--json",
    ]


def _kill_when(proc: subprocess.Popen, db: Path, stored: int, deadline_s: float = 180) -> None:
    """SIGKILL the crawl (its whole process group) once ``stored`` performers are committed."""
    end = time.monotonic() + deadline_s
    while _stored(db) < stored:
        assert proc.poll() is None, "the crawl ended before it could be killed"
        assert time.monotonic() < end, f"the crawl did not store {stored} performers in {deadline_s} s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_twice_and_resumed_equals_an_uninterrupted_crawl(catalogue: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STASH_SENSE_WORKERS": "1", "STASHBOX_API_KEY": KEY}
    rng = random.Random(7)
    first, second = sorted(rng.sample(range(2, LFW + CELEB - 2), 2))
    with _served(catalogue) as url:
        whole = _crawl(url, tmp_path / "whole")
        killed = tmp_path / "killed"
        for stored in (first, second):
            proc = subprocess.Popen(_cli_crawl(url, killed), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            _kill_when(proc, killed, stored)
        done = subprocess.run(_cli_crawl(url, killed), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert_same_content(killed, tmp_path / "whole")
    assert report["images_downloaded_twice"] == 0
    assert report["images_downloaded"] == whole.images_downloaded  # summed over the three runs: nothing fetched twice
    assert report["performers"] == whole.performers


def test_a_second_crawl_of_the_same_endpoint_is_refused(catalogue: Path, tmp_path: Path) -> None:
    with _served(catalogue) as url:
        with endpoint_lock(f"{url}/graphql"):
            with pytest.raises(CrawlBusyError, match="already running"):
                _crawl(url, tmp_path / "db")
            env = {**os.environ, "STASH_SENSE_WORKERS": "1", "STASHBOX_API_KEY": KEY}
            cli = subprocess.run(_cli_crawl(url, tmp_path / "other"), env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1
    assert "already running" in json.loads(cli.stdout)["error"]
    assert KEY not in cli.stdout + cli.stderr


def test_update_fetches_only_the_changes_and_equals_a_fresh_crawl(catalogue: Path, facedata: Path, tmp_path: Path) -> None:
    app = create_stashbox_app(folders=[catalogue], api_key=KEY)
    catalog = app.state.catalog
    with run_in_thread(app) as url:
        db = tmp_path / "db"
        _crawl(url, db)
        before = db_content(db)
        people = sorted(catalog.active(), key=lambda p: p.name)
        # 3 edits (a rename, an alias, one image less), 2 new, 1 deleted, 1 merged pair.
        catalog.update_performer(people[0].id, name=people[0].name + " Jr")
        catalog.update_performer(people[1].id, aliases=["Someone Else"])
        catalog.update_performer(people[2].id, remove_images=[people[2].image_ids[0]])
        added = [catalog.create_performer(d.name.replace("_", " "), sorted(d.iterdir())[:2]) for d in spare_identities(facedata, LFW, 2)]
        catalog.delete_performer(people[3].id)
        catalog.merge_performers([people[4].id], people[5].id)
        report = update_from_stashbox(db, api_key=KEY, requests_per_minute=FAST, progress=False, workers=1)
        fresh = tmp_path / "fresh"
        _crawl(url, fresh)
    (item,) = report.endpoints
    assert report.changed and report.db_version != report.previous_version
    assert (item.performers_added, item.performers_edited, item.performers_deleted, item.performers_merged_away) == (2, 4, 1, 1)
    # The merge target and the edits bring no new images; only the newcomers' photos are fetched.
    assert item.images_downloaded == sum(len(p.image_ids) for p in added)
    assert item.pages_listed == 1 and item.id_sweep
    assert_same_content(current_dir(db), fresh)
    after = db_content(current_dir(db))
    assert len(after) == len(before) + 2 - 1 - 1


def test_cli_refuses_a_crawl_without_what_it_needs(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "stash_sense.cli", "db", "build", "--out", str(tmp_path / "db"), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "STASHBOX_API_KEY"}
    no_box = subprocess.run([*base, "--all-performers"], env=env, capture_output=True, text=True, timeout=120)
    assert no_box.returncode == 1 and "--from-stashbox" in json.loads(no_box.stdout)["error"]
    no_key = subprocess.run(
        [*base, "--all-performers", "--from-stashbox", "http://127.0.0.1:9/graphql"], env=env, capture_output=True, text=True, timeout=120,
    )
    assert no_key.returncode == 1 and "API key" in json.loads(no_key.stdout)["error"]


def test_update_of_a_db_without_a_crawl_says_what_to_do(tmp_path: Path) -> None:
    from facedb_helpers import build_synthetic_db

    db = tmp_path / "db"
    build_synthetic_db(db, [2, 3])
    with pytest.raises(ValueError, match="holds no stash-box crawl.*--all-performers"):
        update_from_stashbox(db, api_key=KEY, progress=False)


def test_rebuild_of_a_crawled_db_crawls_again(catalogue: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STASH_SENSE_WORKERS": "1", "STASHBOX_API_KEY": KEY}
    with _served(catalogue) as url:
        first = _crawl(url, tmp_path / "db")
        done = subprocess.run(
            [sys.executable, "-m", "stash_sense.cli", "db", "rebuild", "--db", str(tmp_path / "db"), "--embedder", first_embedder(tmp_path / "db"),
             "--out", str(tmp_path / "again"), "--no-progress", "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    (build,) = json.loads(done.stdout)["builds"]
    assert build["performers"] == first.performers
    assert_same_content(tmp_path / "again", tmp_path / "db")  # same embedder, same catalogue: the same DB


def first_embedder(db: Path) -> str:
    from stash_sense.facedb.manifest import load_manifest

    return load_manifest(db).embedding.model


@pytest.mark.parametrize("change", ["delete", "merge", "add"])
def test_a_catalogue_that_changes_while_it_is_listed_is_listed_again(
    change: str, catalogue: Path, facedata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone deletes (or merges, or adds) a performer on a page already read: the next pages
    slide by one, so one performer would be missed and a gone one stored. The crawl notices the
    catalogue's size changed and lists again until it holds still."""
    from stash_sense.facedb.crawl import listing

    app = create_stashbox_app(folders=[catalogue], api_key=KEY)
    catalog = app.state.catalog
    first_page = sorted(catalog.active(), key=lambda p: (p.created, p.id))[:5]
    real_page = listing.page
    calls = {"n": 0}

    async def page_then_change(*args: object, **kwargs: object):
        result = await real_page(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # right after the first page was read
            if change == "delete":
                catalog.delete_performer(first_page[0].id)
            elif change == "merge":
                catalog.merge_performers([first_page[0].id], first_page[1].id)
            else:
                extra = spare_identities(facedata, LFW, 1)[0]
                catalog.create_performer(extra.name.replace("_", " "), sorted(extra.iterdir())[:2])
        return result

    monkeypatch.setattr(listing, "page", page_then_change)
    with run_in_thread(app) as url:
        _crawl(url, tmp_path / "changed", page_size=5)
        monkeypatch.setattr(listing, "page", real_page)
        _crawl(url, tmp_path / "fresh", page_size=5)
    assert calls["n"] > -(-(LFW + CELEB) // 5)  # the listing was read more than once
    assert_same_content(tmp_path / "changed", tmp_path / "fresh")
