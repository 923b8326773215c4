"""One performer across stash-boxes: two emulated stash-boxes share performers under different
ids (some under another name or with another alias); crawled into one DB, each shared person
becomes one DB performer holding both identities, with no wrong link, and a link can be undone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from build_stash_helpers import one_worker  # noqa: F401 - in-process face work for small crawls
from crawl_helpers import link_catalogue, spare_identities

from stash_sense.devtools.emulator import create_stashbox_app, run_in_thread
from stash_sense.facedb.crawl.edits import read_links
from stash_sense.facedb.crawl.run import crawl_stashbox
from stash_sense.facedb.versions import current_dir

KEY = "box-links-key-5c1d"




def _holders(db: Path) -> dict[str, str]:
    """identity -> a name of the DB performer that holds it (performer id as text)."""
    import sqlite3

    con = sqlite3.connect(f"file:{current_dir(db) / 'performers.db'}?mode=ro", uri=True)
    try:
        return {f"{e}#{s}": str(p) for e, s, p in con.execute("SELECT endpoint, stash_id, performer_id FROM performer_ids")}
    finally:
        con.close()


def _two_boxes(catalogue: Path, facedata: Path, shared: int, extra: int):
    """Box A and box B serve the same people under different ids; B renames a sixth of them (the
    old name kept as an alias), gives another sixth an extra alias, holds ``extra`` people A lacks,
    and sets three traps: a stranger named like a shared person, one shared person renamed with
    no alias but a cross-reference to A's page, and a cross-reference to the wrong person."""
    a = create_stashbox_app(folders=[catalogue], api_key=KEY, id_namespace="box-a")
    b = create_stashbox_app(folders=[catalogue], api_key=KEY, id_namespace="box-b")
    people_a = sorted(a.state.catalog.active(), key=lambda p: p.name)
    people_b = sorted(b.state.catalog.active(), key=lambda p: p.name)
    truth = {}  # B id -> A id of the same person
    for pa, pb in zip(people_a, people_b):
        assert pa.name == pb.name
        truth[pb.id] = pa.id
    cat = b.state.catalog
    sixth = max(1, shared // 6)
    for pb in people_b[:sixth]:
        cat.update_performer(pb.id, name=f"{pb.name} Stage", aliases=[pb.name])
    for pb in people_b[sixth : 2 * sixth]:
        cat.update_performer(pb.id, aliases=[f"{pb.name.split()[0]} X"])
    strangers = [cat.create_performer(d.name.replace("_", " "), sorted(d.iterdir())[:2]) for d in spare_identities(facedata, shared, extra)]
    cat.update_performer(strangers[0].id, name=people_b[-1].name)  # a namesake: same name, another face
    return a, b, people_a, people_b, truth, strangers


def _check(db: Path, url_a: str, url_b: str, truth: dict[str, str], strangers: list) -> tuple[int, int]:
    holders = _holders(db)
    linked = sum(holders[f"{url_b}/graphql#{b}"] == holders[f"{url_a}/graphql#{a}"] for b, a in truth.items())
    wrong = 0
    for link in read_links(db):
        ida, idb = sorted([link.a, link.b])
        a_id, b_id = ida.split("#", 1)[1], idb.split("#", 1)[1]
        if ida.startswith(f"{url_b}/") and idb.startswith(f"{url_a}/"):
            a_id, b_id = b_id, a_id
        wrong += truth.get(b_id) != a_id
    for stranger in strangers:
        key = f"{url_b}/graphql#{stranger.id}"
        same = [k for k, v in holders.items() if v == holders[key] and k != key]
        wrong += bool(same)
    return linked, wrong


def _run(catalogue: Path, facedata: Path, tmp_path: Path, shared: int, extra: int) -> None:
    a, b, people_a, people_b, truth, strangers = _two_boxes(catalogue, facedata, shared, extra)
    with run_in_thread(a) as url_a, run_in_thread(b) as url_b:
        renamed = people_b[2 * (shared // 6) or 2]  # renamed without an alias, but B says where A has it
        b.state.catalog.update_performer(renamed.id, name="Somebody Else Entirely", urls=[f"{url_a}/performers/{truth[renamed.id]}"])
        liar = people_b[-2]  # a cross-reference to someone else's page: the faces refuse it
        b.state.catalog.update_performer(liar.id, urls=[f"{url_a}/performers/{people_a[0].id}"])
        db = tmp_path / "db"
        for url in (url_a, url_b):
            report = crawl_stashbox(f"{url}/graphql", db, api_key=KEY, progress=False, workers=1, requests_per_minute=6000)
        assert report.links is not None
        linked, wrong = _check(db, url_a, url_b, truth, strangers)
        figures = {"shared": len(truth), "linked": linked, "wrong_links": wrong, "links": report.links.model_dump()}
        artifacts = Path(__file__).resolve().parent.parent / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / f"stashbox-links-{shared}.json").write_text(json.dumps(figures, indent=2))
        assert wrong == 0
        assert linked >= 0.95 * len(truth), f"{linked} of {len(truth)} linked"
        assert report.links.by_cross_reference >= 1 and report.links.refused_cross_references
        kinds = {link.evidence.kind for link in read_links(db)}
        assert kinds == {"cross-reference", "face+name"}
        # Undo one: the B identity becomes its own performer, with B's faces, and stays apart.
        victim = f"{url_b}/graphql#{people_b[5].id}"
        cli = [sys.executable, "-m", "stash_sense.cli", "db"]
        done = subprocess.run([*cli, "unlink", str(db), victim, "--json"], capture_output=True, text=True, timeout=120, env=os.environ)
        assert done.returncode == 0, done.stderr[-2000:]
        holders = _holders(db)
        assert holders[victim] != holders[f"{url_a}/graphql#{truth[people_b[5].id]}"]
        again = crawl_stashbox(f"{url_b}/graphql", db, api_key=KEY, progress=False, workers=1, requests_per_minute=6000)
        assert again.links is not None
        assert _holders(db)[victim] != _holders(db)[f"{url_a}/graphql#{truth[people_b[5].id]}"]  # blocked for good
        info = subprocess.run([*cli, "info", "--db", str(db), "--json"], capture_output=True, text=True, timeout=120)
        assert json.loads(info.stdout)["links"]["total"] == len(read_links(db))


def test_two_stashboxes_sharing_performers_link_into_one_each(facedata: Path, tmp_path: Path) -> None:
    catalogue = link_catalogue(facedata, tmp_path / "catalogue", lfw=30, celeb=0, per_identity=2)
    _run(catalogue, facedata, tmp_path, shared=30, extra=4)


@pytest.mark.slow
def test_three_hundred_shared_performers(facedata: Path, tmp_path: Path) -> None:
    catalogue = link_catalogue(facedata, tmp_path / "catalogue", lfw=300, celeb=0, per_identity=2)
    _run(catalogue, facedata, tmp_path, shared=300, extra=30)
