"""``stash-sense bench crawl``: the whole-stash-box crawl measured against the stash-box emulator.

Everything runs as in production, through real processes and HTTP: the emulator serves the
labelled photo folders as a child process in its own process group, and every crawl and update
is a ``stash-sense db ...`` child process. Sections: ``crawl`` (one crawl under the emulator's
429 limit), ``resume`` (a crawl SIGKILLed twice at seeded points, then finished: same content,
nothing downloaded twice), ``update`` (admin-API edits, then ``db update`` vs. a fresh crawl)
and ``speed`` (~300 identities at 5 requests/s, projected to 100,000 performers). The catalogue
is served from symlinks (the same ids as the folders themselves), less the identities held back
for the update's additions, cut to ``--limit`` for quick runs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..facedb.content import content_differences
from .crawl_bench_release import release_section
from ..facedb.versions import current_dir
from ..photos import list_identities
from .emulator.stashbox_sources import identity_name, performer_stash_id

IMAGES_PER_PERFORMER = 3
PAGE_SIZE = 100  # the crawl's listing page (facedb/crawl/listing.py)
CRAWL_OVER_LIMIT = 1.6  # the crawl asks for this much more than the emulator's 429 limit
SPEED_RPS = 5.0
PROJECTED_PERFORMERS = 100_000
STARTUP_DEADLINE_S = 90.0
FULL_PLAN_MIN_IDENTITIES = 60


def log(message: str) -> None:  # stdout carries only the JSON
    print(f"[bench crawl {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the catalogue -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Photo:
    folder: int  # index of the source folder
    identity_folder: str  # the identity's folder name in that source folder
    path: Path


@dataclass
class Catalogue:
    """Identity name -> its photos across the folders; which ones are served and held back."""

    folders: list[Path]
    photos: dict[str, list[Photo]]
    served: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)

    def images(self, names: list[str]) -> int:
        return sum(len(self.photos[n]) for n in names)

    def chosen_images(self, names: list[str]) -> int:
        return sum(min(IMAGES_PER_PERFORMER, len(self.photos[n])) for n in names)


def read_catalogue(folders: list[Path]) -> Catalogue:
    photos: dict[str, list[Photo]] = {}
    for index, folder in enumerate(folders):
        for folder_name, paths in list_identities(folder).items():
            photos.setdefault(identity_name(folder_name), []).extend(Photo(index, folder_name, p) for p in paths)
    return Catalogue([Path(f) for f in folders], photos)


def choose_served(catalogue: Catalogue, limit: int | None, held: int, rng: random.Random) -> None:
    """Hold ``held`` identities back (seeded) and serve the rest, at most ``limit`` of them."""
    names = sorted(catalogue.photos)
    rng.shuffle(names)
    if len(names) < held + 8:
        raise ValueError(f"the folders hold {len(names)} identities: at least {held + 8} are needed")
    catalogue.held_back = sorted(names[:held])
    rest = names[held:]
    catalogue.served = sorted(rest if limit is None else rest[:limit])


def link_catalogue(catalogue: Catalogue, names: list[str], dest: Path) -> list[Path]:
    """``dest/<folder index>/<identity folder>/<photo symlinks>`` for ``names``: the folders to
    serve, in the source folders' order (the emulator's ids depend only on the relative paths)."""
    roots: dict[int, Path] = {}
    for name in names:
        for photo in catalogue.photos[name]:
            root = roots.setdefault(photo.folder, dest / str(photo.folder))
            target = root / photo.identity_folder / photo.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(photo.path.resolve())
    return [roots[i] for i in sorted(roots)]


# -- the emulator, a child process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, wait_s: float = 15.0) -> None:
    """End ``proc``'s process group (it was started in a session of its own)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=wait_s)


@dataclass
class Box:
    """A running stash-box emulator and an HTTP client for its GraphQL and admin API."""

    url: str
    proc: subprocess.Popen[Any]
    http: httpx.Client

    @property
    def graphql(self) -> str:
        return f"{self.url}/graphql"

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, f"{self.url}/_emulator/{path}", json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /_emulator/{path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        data = self.admin("GET", "stats")
        data.pop("by_path", None)  # one entry per image: thousands
        return data

    def reset_stats(self) -> None:
        self.admin("POST", "stats/reset")

    def count(self) -> int:
        """``queryPerformers``' count: the active performers (one GraphQL request)."""
        query = "{ queryPerformers(input: {page: 1, per_page: 1}) { count } }"
        response = self.http.post(self.graphql, json={"query": query})
        response.raise_for_status()
        return int(response.json()["data"]["queryPerformers"]["count"])


@contextmanager
def emulator(folders: list[Path], key: str, log_path: Path, max_rps: float | None) -> Iterator[Box]:
    """``stash-sense emulator serve-stashbox`` on a free port, killed (its group) on exit."""
    port = free_port()
    args = [sys.executable, "-m", "stash_sense.cli", "emulator", "serve-stashbox", "--port", str(port)]
    args += [a for folder in folders for a in ("--from-folder", str(folder))]
    if max_rps is not None:
        args += ["--max-requests-per-second", f"{max_rps:g}"]
    env = {**os.environ, "STASH_SENSE_STASHBOX_API_KEY": key}
    with log_path.open("ab") as sink:
        proc = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    box = Box(f"http://127.0.0.1:{port}", proc, httpx.Client(headers={"ApiKey": key}, timeout=60))
    try:
        yield wait_until_up(box, log_path)
    finally:
        box.http.close()
        stop_group(proc)


def wait_until_up(box: Box, log_path: Path) -> Box:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        if box.proc.poll() is not None:
            raise RuntimeError(f"the emulator exited ({box.proc.returncode}): {tail(log_path)}")
        try:
            if box.http.get(f"{box.url}/_emulator/stats", timeout=2).status_code == 200:
                return box
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the emulator did not start within {STARTUP_DEADLINE_S:.0f} s: {tail(log_path)}")
        time.sleep(0.2)


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


# -- crawls, child processes ----------------------------------------------------------------------


@dataclass
class Crawler:
    """Runs ``stash-sense db build --all-performers`` / ``db update`` as child processes."""

    workdir: Path
    key: str
    embedder: str | None
    timeout_s: float

    def crawl_args(self, endpoint: str, out: Path, rpm: float) -> list[str]:
        args = [
            sys.executable, "-m", "stash_sense.cli", "db", "build", "--from-stashbox", endpoint, "--all-performers",
            "--out", str(out), "--stashbox-images", str(IMAGES_PER_PERFORMER), "--stashbox-rate", f"{rpm:g}",
            "--no-progress", "--json",
        ]
        return args + (["--embedder", self.embedder] if self.embedder else [])

    def update_args(self, endpoint: str, db: Path, rpm: float) -> list[str]:
        return [
            sys.executable, "-m", "stash_sense.cli", "db", "update", str(db), "--from-stashbox", endpoint,
            "--stashbox-rate", f"{rpm:g}", "--no-progress", "--json",
        ]

    def start(self, args: list[str], name: str) -> subprocess.Popen[str]:
        with (self.workdir / "logs" / f"{name}.log").open("a", encoding="utf-8") as sink:
            env = {**os.environ, "STASHBOX_API_KEY": self.key}
            return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=sink, text=True, start_new_session=True)

    def run(self, args: list[str], name: str) -> tuple[dict[str, Any], float]:
        """The command's JSON report and its wall time; raises when it fails."""
        started = time.monotonic()
        proc = self.start(args, name)
        try:
            out, _ = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc, signal.SIGKILL)
            raise RuntimeError(f"{name} did not finish within {self.timeout_s:.0f} s") from None
        wall = round(time.monotonic() - started, 2)
        try:
            report = json.loads(out)
        except ValueError:
            report = {"ok": False, "error": f"no JSON on stdout: {out[-500:]!r}"}
        if proc.returncode != 0 or not report.get("ok"):
            raise RuntimeError(f"{name} failed ({proc.returncode}): {report.get('error')}; {tail(self.workdir / 'logs' / f'{name}.log')}")
        return report, wall


def stored_performers(db: Path) -> int:
    """Performers a crawl has committed (read-only; 0 before the DB exists)."""
    path = db / "performers.db"
    if not path.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM stashbox_performers").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def db_identities(db: Path, endpoint: str) -> dict[str, int]:
    """How many DB performers, identities and distinct stash ids of ``endpoint`` the DB holds."""
    con = sqlite3.connect(f"file:{db / 'performers.db'}?mode=ro", uri=True)
    try:
        performers = con.execute("SELECT COUNT(*) FROM performers").fetchone()[0]
        ids, distinct = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT stash_id) FROM performer_ids WHERE endpoint = ?", (endpoint,)
        ).fetchone()
        visited = con.execute("SELECT COUNT(*) FROM stashbox_performers WHERE endpoint = ?", (endpoint,)).fetchone()[0]
    finally:
        con.close()
    return {"db_performers": performers, "identities": ids, "distinct_stash_ids": distinct, "visited": visited}


# -- section 1: the uninterrupted crawl under a 429 limit -----------------------------------------


def crawl_section(box: Box, crawler: Crawler, db: Path, rpm: float) -> dict[str, Any]:
    size = box.count()
    box.reset_stats()
    log(f"crawl: {size} performers at {rpm:g} requests/min against the emulator's limit")
    report, wall = crawler.run(crawler.crawl_args(box.graphql, db, rpm), "crawl")
    stats = box.stats()
    held = db_identities(db, report["endpoint"])
    checks = {
        "every_identity_once": report["performers"] == size == held["db_performers"] == held["identities"]
        == held["distinct_stash_ids"] == held["visited"],
        "throttled_at_least_once": report["throttled_429"] >= 1,
        "no_429_after_slowdown": report["throttled_after_slowdown"] == 0,
        "no_image_downloaded_twice": report["images_downloaded_twice"] == 0,
        "requests_match_server": report["requests"] == stats["requests"] and report["throttled_429"] == stats["throttled_429"],
    }
    return {"catalogue_size": size, "report": report, "wall_seconds": wall, "db": held, "emulator_stats": stats, "checks": checks}


# -- section 2: killed twice, resumed ------------------------------------------------------------


def kill_at(crawler: Crawler, args: list[str], db: Path, target: int, name: str) -> dict[str, Any]:
    """Start the crawl and SIGKILL its group once ``target`` performers are stored."""
    before = stored_performers(db)
    proc = crawler.start(args, name)
    deadline = time.monotonic() + crawler.timeout_s
    while stored_performers(db) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = proc.poll() is None
    stop_group(proc, signal.SIGKILL)
    if proc.stdout is not None:
        proc.stdout.close()
    return {"target_stored": target, "stored_before": before, "stored_at_kill": stored_performers(db), "killed": alive}


def resume_section(box: Box, crawler: Crawler, whole: Path, db: Path, rpm: float, first: dict[str, Any],
                   rng: random.Random) -> dict[str, Any]:
    size = first["catalogue_size"]
    box.reset_stats()
    args = crawler.crawl_args(box.graphql, db, rpm)
    kills = []
    for number, (low, high) in enumerate(((0.1, 0.45), (0.55, 0.9)), start=1):
        target = min(size - 1, max(stored_performers(db) + 1, round(rng.uniform(low, high) * size)))
        log(f"resume: run {number}, SIGKILL after {target} of {size} performers stored")
        kills.append(kill_at(crawler, args, db, target, f"resume-{number}"))
    log("resume: the last run, to the end")
    report, wall = crawler.run(args, "resume-3")
    stats = box.stats()
    differences = content_differences(db, whole)
    whole_report = first["report"]
    checks = {
        "killed_twice_mid_crawl": all(k["killed"] and 0 < k["stored_at_kill"] < size for k in kills),
        "same_content_as_uninterrupted": not differences,
        "no_image_downloaded_twice": report["images_downloaded_twice"] == 0,
        "images_downloaded_as_uninterrupted": report["images_downloaded"] == whole_report["images_downloaded"],
        "same_performers": report["performers"] == whole_report["performers"],
        "no_429_after_slowdown": report["throttled_after_slowdown"] == 0,
    }
    return {"kills": kills, "report": report, "last_run_wall_seconds": wall, "emulator_stats": stats,
            "differences": differences, "checks": checks}


# -- section 3: edits, then db update vs. a fresh crawl --------------------------------------------


@dataclass(frozen=True)
class PlanSizes:
    edits: int
    adds: int
    deletes: int
    merges: int


def plan_sizes(served: int) -> PlanSizes:
    return PlanSizes(30, 20, 5, 5) if served >= FULL_PLAN_MIN_IDENTITIES else PlanSizes(4, 2, 1, 1)


@dataclass
class EditPlan:
    renames: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    remove_image: list[str] = field(default_factory=list)
    add_image: list[tuple[str, Photo]] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)  # (source, target)

    def summary(self) -> dict[str, int]:
        return {"renamed": len(self.renames), "aliases_set": len(self.aliases), "image_removed": len(self.remove_image),
                "image_added": len(self.add_image), "added": len(self.adds), "deleted": len(self.deletes),
                "merged_pairs": len(self.merges)}


def _take(pool: list[str], want: Callable[[str], bool]) -> str:
    """The first name of ``pool`` that ``want`` likes (else the first), removed from the pool."""
    index = next((i for i, name in enumerate(pool) if want(name)), 0)
    return pool.pop(index)


def plan_edits(catalogue: Catalogue, sizes: PlanSizes, rng: random.Random) -> EditPlan:
    """Disjoint, seeded choices: image removals from performers with 2+ photos, image additions to
    performers with fewer than the crawl keeps (so the new image is one it keeps)."""
    pool = list(catalogue.served)
    rng.shuffle(pool)

    def count(name: str) -> int:
        return len(catalogue.photos[name])

    plan = EditPlan(adds=list(catalogue.held_back[: sizes.adds]))
    for i in range(sizes.edits):
        kind = i % 4
        if kind == 0:
            plan.renames.append(_take(pool, lambda n: True))
        elif kind == 1:
            plan.aliases.append(_take(pool, lambda n: True))
        elif kind == 2:
            plan.remove_image.append(_take(pool, lambda n: count(n) >= 2))
        else:
            target = _take(pool, lambda n: count(n) < IMAGES_PER_PERFORMER)
            donor = rng.choice([n for n in catalogue.served if n != target])
            plan.add_image.append((target, rng.choice(catalogue.photos[donor])))
    plan.deletes = [_take(pool, lambda n: True) for _ in range(sizes.deletes)]
    plan.merges = [(_take(pool, lambda n: True), _take(pool, lambda n: True)) for _ in range(sizes.merges)]
    return plan


def apply_edits(box: Box, catalogue: Catalogue, plan: EditPlan) -> list[str]:
    """The plan through the admin API; returns the ids of the performers added."""
    pid = performer_stash_id
    for name in plan.renames:
        box.admin("PATCH", f"performers/{pid(name)}", {"name": f"{name} (renamed)"})
    for name in plan.aliases:
        box.admin("PATCH", f"performers/{pid(name)}", {"aliases": [f"{name.split()[0]} Alias", f"{name} II"]})
    for name in plan.remove_image:
        first = box.admin("GET", f"performers/{pid(name)}")["images"][0]["id"]
        box.admin("PATCH", f"performers/{pid(name)}", {"remove_images": [first]})
    for name, photo in plan.add_image:
        box.admin("PATCH", f"performers/{pid(name)}", {"add_images": [str(photo.path.resolve())]})
    added = [
        box.admin("POST", "performers", {"name": name, "images": [str(p.path.resolve()) for p in catalogue.photos[name]]})["id"]
        for name in plan.adds
    ]
    for name in plan.deletes:
        box.admin("DELETE", f"performers/{pid(name)}")
    for source, target in plan.merges:
        box.admin("POST", "merge", {"source_ids": [pid(source)], "target_id": pid(target)})
    return added


def update_image_bound(catalogue: Catalogue, plan: EditPlan) -> int:
    """The most images ``db update`` may need: the newcomers' kept images, one per image edit,
    and (at most) the kept images of each merge target."""
    return catalogue.chosen_images(plan.adds) + len(plan.remove_image) + len(plan.add_image) + IMAGES_PER_PERFORMER * len(plan.merges)


def update_section(box: Box, crawler: Crawler, catalogue: Catalogue, db: Path, fresh: Path, rpm: float,
                   rng: random.Random) -> dict[str, Any]:
    plan = plan_edits(catalogue, plan_sizes(len(catalogue.served)), rng)
    before = box.count()
    apply_edits(box, catalogue, plan)
    expected = before + len(plan.adds) - len(plan.deletes) - len(plan.merges)
    log(f"update: {plan.summary()}; db update, then a fresh crawl of {expected} performers")
    box.reset_stats()
    update, update_wall = crawler.run(crawler.update_args(box.graphql, db, rpm), "update")
    update_stats = box.stats()
    box.reset_stats()
    fresh_report, fresh_wall = crawler.run(crawler.crawl_args(box.graphql, fresh, rpm), "fresh")
    fresh_stats = box.stats()
    differences = content_differences(current_dir(db), fresh)
    (item,) = update["endpoints"]
    bound = update_image_bound(catalogue, plan)
    checks = {
        "same_content_as_fresh_crawl": not differences,
        "fresh_crawl_has_everyone": fresh_report["performers"] == expected == box.count(),
        "changes_counted": (item["performers_added"], item["performers_edited"], item["performers_deleted"],
                            item["performers_merged_away"])
        == (len(plan.adds), sum(plan.summary()[k] for k in ("renamed", "aliases_set", "image_removed", "image_added"))
            + len(plan.merges), len(plan.deletes), len(plan.merges)),
        "update_images_within_changes": item["images_downloaded"] <= bound,
        "update_requests_fewer_than_fresh": update_stats["requests"] < fresh_stats["requests"],
        "published_a_new_version": bool(update["changed"]),
    }
    return {
        "edits": plan.summary(), "expected_performers": expected, "update_report": update, "update_wall_seconds": update_wall,
        "update_emulator_stats": update_stats, "update_images_bound": bound, "fresh_report": fresh_report,
        "fresh_wall_seconds": fresh_wall, "fresh_emulator_stats": fresh_stats,
        "update_requests_share_of_fresh": round(update_stats["requests"] / max(1, fresh_stats["requests"]), 4),
        "differences": differences, "checks": checks,
    }


# -- section 4: speed at 5 requests/s -------------------------------------------------------------


def _rates(report: dict[str, Any]) -> dict[str, float]:
    seconds = max(report["seconds"], 1e-6)
    return {"requests_per_second": round(report["requests"] / seconds, 3),
            "images_per_second": round(report["images_downloaded"] / seconds, 3)}


def projection(rps: float, compute_ips: float, performers: int = PROJECTED_PERFORMERS) -> dict[str, Any]:
    pages = math.ceil(performers / PAGE_SIZE)
    images = performers * IMAGES_PER_PERFORMER
    requests = pages + images
    network = requests / rps
    compute = images / compute_ips if compute_ips > 0 else 0.0
    seconds = max(network, compute)
    return {
        "performers": performers, "images_per_performer": IMAGES_PER_PERFORMER, "pages": pages, "requests": requests,
        "formula": (f"requests = ceil({performers} / {PAGE_SIZE}) pages + {performers} x {IMAGES_PER_PERFORMER} images "
                    f"= {requests}; time = max(requests / achieved requests/s, images / unlimited images/s) "
                    f"= max({requests} / {rps:.3f}, {images} / {compute_ips:.2f}) s"),
        "network_seconds": round(network), "compute_seconds": round(compute), "seconds": round(seconds),
        "hours": round(seconds / 3600, 2), "at_exactly_5_per_second_hours": round(requests / SPEED_RPS / 3600, 2),
    }


def speed_section(catalogue: Catalogue, crawler: Crawler, workdir: Path, identities: int) -> dict[str, Any]:
    names = catalogue.served[:identities]
    folders = link_catalogue(catalogue, names, workdir / "speed-catalogue")
    rpm = SPEED_RPS * 60
    with emulator(folders, crawler.key, workdir / "logs" / "emulator-speed.log", SPEED_RPS) as box:
        log(f"speed: {len(names)} performers at {rpm:g} requests/min, the emulator limited to {SPEED_RPS:g}/s")
        limited, wall = crawler.run(crawler.crawl_args(box.graphql, workdir / "db-speed", rpm), "speed")
        stats = box.stats()
    with emulator(folders, crawler.key, workdir / "logs" / "emulator-speed-unlimited.log", None) as box:
        log("speed: the same crawl without a limit (what the CPU allows)")
        unlimited, unlimited_wall = crawler.run(crawler.crawl_args(box.graphql, workdir / "db-speed-unlimited", 60_000), "speed-unlimited")
    rates, free = _rates(limited), _rates(unlimited)
    return {
        "identities": len(names), "limit_requests_per_second": SPEED_RPS, "crawl_rate_per_minute": rpm,
        "report": limited, "wall_seconds": wall, "emulator_stats": stats, **rates,
        "share_of_limit": round(rates["requests_per_second"] / SPEED_RPS, 4),
        "unlimited": {"report": unlimited, "wall_seconds": unlimited_wall, **free},
        "projection_100k": projection(rates["requests_per_second"], free["images_per_second"]),
        "checks": {"no_429_after_slowdown": limited["throttled_after_slowdown"] == 0,
                   "stays_under_the_limit": rates["requests_per_second"] <= SPEED_RPS * 1.02},
    }


# -- the whole run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    folders: list[Path]
    workdir: Path
    limit: int | None = None
    max_requests_per_second: float = 25.0
    speed_identities: int = 300
    seed: int = 0
    embedder: str | None = None
    sections: tuple[str, ...] = ("crawl", "resume", "update", "speed")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def failed_checks(result: dict[str, Any]) -> list[str]:
    return [f"{name}.{check}" for name, section in result.items() if isinstance(section, dict)
            for check, ok in section.get("checks", {}).items() if not ok]


def run_crawl_bench(options: BenchOptions) -> dict[str, Any]:
    """Run the sections; returns the JSON-ready result (``ok`` when every check passed)."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    workdir = options.workdir
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    catalogue = read_catalogue(options.folders)
    sizes = plan_sizes(options.limit if options.limit is not None else len(catalogue.photos))
    choose_served(catalogue, options.limit, sizes.adds, rng)
    served = link_catalogue(catalogue, catalogue.served, workdir / "catalogue")
    rpm = options.max_requests_per_second * 60 * CRAWL_OVER_LIMIT
    crawler = Crawler(workdir, secrets.token_hex(12), options.embedder, timeout_s=600 + 0.6 * catalogue.images(catalogue.served))
    result: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "folders": [str(f) for f in options.folders], "limit": options.limit, "identities_in_folders": len(catalogue.photos),
            "served_identities": len(catalogue.served), "served_images": catalogue.images(catalogue.served),
            "kept_images": catalogue.chosen_images(catalogue.served), "held_back_for_additions": len(catalogue.held_back),
            "emulator_limit_requests_per_second": options.max_requests_per_second, "crawl_rate_per_minute": rpm,
            "seed": options.seed, "embedder": options.embedder or "default", "workdir": str(workdir),
        },
    }
    log(f"serving {len(catalogue.served)} identities ({result['config']['served_images']} photos) from {workdir / 'catalogue'}")
    whole, killed, fresh = workdir / "db-crawl", workdir / "db-resume", workdir / "db-fresh"
    with emulator(served, crawler.key, workdir / "logs" / "emulator.log", options.max_requests_per_second) as box:
        if "crawl" in options.sections:
            result["crawl"] = crawl_section(box, crawler, whole, rpm)
            if "resume" in options.sections:
                result["resume"] = resume_section(box, crawler, whole, killed, rpm, result["crawl"], rng)
            if "update" in options.sections:
                result["update"] = update_section(box, crawler, catalogue, whole, fresh, rpm, rng)
                result["release"] = release_section(whole, fresh, workdir, len(catalogue.served))
    if "speed" in options.sections:
        result["speed"] = speed_section(catalogue, crawler, workdir, options.speed_identities)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.monotonic() - started, 1)
    result["failed_checks"] = failed_checks(result)
    result["ok"] = not result["failed_checks"]
    return result
