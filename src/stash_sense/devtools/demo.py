"""The end-to-end demo on the embedded default data (the README's main command).

Renders a sample library from real labelled photos, serves it through the Stash emulator,
builds the face DB, identifies held-out photos, runs ``benchmark --quick`` against the
emulator and prints the summary and where the HTML report is. Each step is skipped when its output already exists,
so a rerun is quick; ``--fresh`` starts over.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..config import facedata_dir, worker_count

console = Console(stderr=True)
# The emulator demands a key, as a real Stash with credentials does; the demo passes it along.
DEMO_API_KEY = "demo-key"


@dataclass(slots=True)
class DemoOptions:
    faces: Path
    out: Path
    unknowns: Path | None
    scenes: int = 24
    seed: int = 1
    gallery_per_identity: int = 5
    fresh: bool = False


def default_options(out: Path) -> DemoOptions:
    data = facedata_dir()
    unknowns = data / "faces94" / "train"
    return DemoOptions(faces=data / "celeb17", out=out, unknowns=unknowns if unknowns.is_dir() else None)


def _step(title: str) -> float:
    console.rule(f"[bold]{title}")
    return time.monotonic()


def run_demo(opts: DemoOptions) -> dict:
    from ..devtools.samplelib.library import SampleLibraryError, load_library
    from ..devtools.samplelib.render import render_library
    from ..devtools.samplelib.settings import RenderSettings
    from ..facedb.build import build_from_folder
    from ..faces.pipeline import PipelineOptions
    from ..recognition import Recognizer

    started = time.monotonic()
    if not opts.faces.is_dir():
        raise FileNotFoundError(f"face photos not found at {opts.faces} (set STASH_SENSE_FACEDATA or pass --faces)")
    if opts.fresh and opts.out.exists():
        shutil.rmtree(opts.out)
    opts.out.mkdir(parents=True, exist_ok=True)
    lib_dir, db_dir = opts.out / "library", opts.out / "facedb"

    t = _step(f"1/5 Sample library: {opts.scenes} scenes from {opts.faces}")
    settings = RenderSettings(scenes=opts.scenes, gallery_per_identity=opts.gallery_per_identity, min_duration=15, max_duration=30)
    try:
        render_library(opts.faces, lib_dir, settings, seed=opts.seed, unknowns_dir=opts.unknowns, resume=(lib_dir / "library.json").exists(), workers=worker_count())
    except SampleLibraryError as exc:
        # A library from a demo run with other settings: render this run's afresh.
        console.print(f"  {exc}; rendering again")
        render_library(opts.faces, lib_dir, settings, seed=opts.seed, unknowns_dir=opts.unknowns, force=True, workers=worker_count())
    library = load_library(lib_dir)
    console.print(f"  {len(library.performers)} performers, {len(library.scenes)} scenes ({time.monotonic() - t:.0f}s)")

    t = _step("2/5 Face DB from the library's gallery")
    embedder = choose_embedder(opts.out)
    if (db_dir / "performers.db").is_file() and _db_embedder(db_dir) not in (None, embedder):
        shutil.rmtree(db_dir)  # a DB from an earlier run with another embedder: build it again
    report = build_from_folder(library.gallery_path, db_dir, progress=True, embedder=embedder)
    console.print(f"  {report.performers} performers, {report.faces} faces, skipped: {report.images_skipped or 'none'} ({time.monotonic() - t:.0f}s)")

    t = _step("3/5 Identify held-out photos")
    recognizer = Recognizer.open(db_dir)
    correct = wrong = unknown = 0
    for performer in library.performers:
        for rel in performer.heldout_images[:2]:
            result = recognizer.pipeline.analyze_file(library.resolve(rel), PipelineOptions(expect_single_face=True))
            matches = recognizer.identify_result(result)[0].matches if result.faces else []
            if not matches:
                unknown += 1
            elif matches[0].name == performer.name:
                correct += 1
            else:
                wrong += 1
    total = correct + wrong + unknown
    console.print(f"  {correct}/{total} identified correctly, {wrong} wrong, {unknown} not accepted ({time.monotonic() - t:.0f}s)")

    t = _step("4/5 Stash emulator serving the library; benchmark --quick against it")
    from ..benchmark.runner import BenchmarkOptions, run_benchmark
    from ..devtools.emulator import create_app, run_in_thread

    bench_dir = opts.out / "benchmark"
    with run_in_thread(create_app(lib_dir, api_key=DEMO_API_KEY)) as stash_url:
        console.print(f"  Stash emulator at {stash_url} (API key required)")
        outcome = run_benchmark(
            f"{stash_url}/graphql", db_dir, bench_dir, api_key=DEMO_API_KEY,
            options=BenchmarkOptions(quick=True, seed=opts.seed, force=True),
        )
    console.print(f"  benchmark finished in {time.monotonic() - t:.0f}s")

    t = _step("5/5 Summary")
    console.print(outcome.summary)
    summary = {
        "baseline": _jsonable(outcome.baseline),
        "best": _jsonable(outcome.best),
        "best_params": _jsonable(outcome.best_params),
        "rounds_run": outcome.rounds_run,
        "photos": {"correct": correct, "wrong": wrong, "unknown": unknown},
        "report_html": str(outcome.outputs.get("report.html", bench_dir / "report.html")),
        "outputs": {k: str(v) for k, v in outcome.outputs.items()},
        "library": str(lib_dir),
        "face_db": str(db_dir),
        "embedder": embedder,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    console.print(f"[bold green]HTML report: {summary['report_html']}[/]  (demo took {summary['elapsed_s']:.0f}s)")
    return summary


def choose_embedder(out: Path) -> str:
    """The best embedder the demo can run: the catalog's preferred one when it is installed, or
    when a local folder (``STASH_SENSE_MODEL_SOURCE``, default ``../shared/models``) holds it,
    installed into the demo's own output; else the default one, which ships with the package.
    Never downloads: a URL source is left alone (``stash-sense models install`` is how a user
    fetches a model)."""
    import os
    from urllib.parse import urlparse

    from ..config import shared_dir
    from ..faces.catalog import DEFAULT_EMBEDDER, PREFERRED_EMBEDDER, install_command, installable_entry, model_file_installed
    from ..modelstore import InstallError, install_model
    from ..modelstore.store import licence_text

    best = PREFERRED_EMBEDDER
    if model_file_installed(best):
        console.print(f"  embedder: {best} (installed)")
        return best
    source = os.environ.get("STASH_SENSE_MODEL_SOURCE", "").strip() or str(shared_dir() / "models")
    entry = installable_entry(best)
    if urlparse(source).scheme in ("http", "https") or not (Path(source) / entry.file).is_file():
        console.print(
            f"  embedder: {DEFAULT_EMBEDDER} ({best} is not installed and no local copy is in {source}; "
            f"`{install_command(best)}` installs it)"
        )
        return DEFAULT_EMBEDDER
    # The demo's own models folder: the user's data directory is left as it was.
    os.environ["STASH_SENSE_MODELS_DIR"] = str(out / "models")
    console.print(f"  {licence_text(entry)}\n  (installed for this non-commercial demo only, into {out / 'models'})")
    try:
        install_model(best, accept_licence=True, source=source)
    except InstallError as exc:
        console.print(f"  embedder: {DEFAULT_EMBEDDER} (installing {best} from {source} failed: {exc})")
        return DEFAULT_EMBEDDER
    console.print(f"  embedder: {best} (from {source})")
    return best


def _db_embedder(db_dir: Path) -> str | None:
    import sqlite3

    from ..facedb.schema import META_MODEL, read_meta

    con = sqlite3.connect(f"file:{db_dir / 'performers.db'}?mode=ro", uri=True)
    try:
        return read_meta(con).get(META_MODEL)
    except sqlite3.Error:
        return None
    finally:
        con.close()


def _jsonable(value: object) -> object:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)  # type: ignore[arg-type]
    return value
