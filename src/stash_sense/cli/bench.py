"""``stash-sense bench``: speed measurements (each with ``--json``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


@app.command("pipeline")
def pipeline(
    faces: Path | None = typer.Option(None, help="Folder of <identity>/<images> (default: $STASH_SENSE_FACEDATA/celeb17)."),
    num_faces: int = typer.Option(200, min=10, help="Faces to embed."),
    num_frames: int = typer.Option(200, min=10, help="720p frames to run detection on."),
    workers: int = typer.Option(0, help="Embedding worker processes (0: all cores)."),
    embedder: str | None = typer.Option(None, "--embedder", help="Face embedder to measure (default: the configured one)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Embedding throughput (faces/s, all cores) and detection speed on 720p frames."""
    from ..benchmark.pipeline_speed import measure_pipeline_speed
    from ..config import facedata_dir
    from ..facedb.errors import FaceDBError

    folder = faces or facedata_dir() / "celeb17"
    if not folder.is_dir():
        fail(f"face photos not found at {folder} (pass --faces or set STASH_SENSE_FACEDATA)")
    try:
        report = measure_pipeline_speed(folder, num_faces=num_faces, num_frames=num_frames, workers=workers or None, embedder=embedder)
    except FaceDBError as exc:
        fail(str(exc))
    if json_out:
        emit_json(report)
    else:
        err_console.print(
            f"{report.embedder} embedding: {report.faces_per_second:.1f} faces/s on {report.workers} workers; "
            f"detection: {report.detect_frames_per_second_720p:.0f} frames/s at 720p"
        )


@app.command("api")
def api(
    url: str | None = typer.Option(None, "--url", help="A running sidecar to load (default: start one for the run)."),
    face_db: Path | None = typer.Option(None, "--face-db", help="Face DB for the sidecar started here (default: STASH_SENSE_FACE_DB)."),
    images: Path | None = typer.Option(None, "--images", help="Folder of images to send (default: $STASH_SENSE_FACEDATA/celeb17)."),
    clients: int = typer.Option(20, min=1, max=500, help="Concurrent clients."),
    duration: float = typer.Option(60.0, min=1.0, help="Seconds of load."),
    cpus: str | None = typer.Option(None, "--cpus", help="Pin the started sidecar to these CPUs, e.g. '0,1'."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="STASH_SENSE_CONCURRENCY for the started sidecar."),
    pid: int | None = typer.Option(None, "--pid", help="With --url: the server's process id, to sample its memory."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Load-test POST /identify: latency percentiles, errors and the server's memory (RSS)."""
    import os
    import tempfile

    from ..benchmark.api_load import load_images, measure_api_load, sidecar_process
    from ..config import facedata_dir

    folder = images or facedata_dir() / "celeb17"
    if not folder.is_dir():
        fail(f"images not found at {folder} (pass --images or set STASH_SENSE_FACEDATA)")
    payloads = load_images(folder)
    if not payloads:
        fail(f"no .jpg/.png images in {folder}")
    api_key = os.environ.get("STASH_SENSE_API_KEY") or None
    if url:
        report = measure_api_load(url, payloads, clients=clients, duration_s=duration, api_key=api_key, server_pid=pid)
    else:
        db = face_db or (Path(os.environ["STASH_SENSE_FACE_DB"]) if os.environ.get("STASH_SENSE_FACE_DB") else None)
        if db is None or not (db / "manifest.json").is_file():
            fail("pass --face-db DIR (a built face DB) or --url of a running sidecar")
        cpu_list = [int(c) for c in cpus.split(",")] if cpus else None
        with tempfile.TemporaryDirectory(prefix="stash-sense-bench-") as data_dir:
            env = {"STASH_SENSE_FACE_DB": str(db), "STASH_SENSE_DATA_DIR": data_dir, "STASH_URL": "", "STASH_SENSE_DB_WATCH_INTERVAL": "0"}
            if concurrency:
                env["STASH_SENSE_CONCURRENCY"] = str(concurrency)
            with sidecar_process(env, cpus=cpu_list) as (server_url, proc):
                report = measure_api_load(server_url, payloads, clients=clients, duration_s=duration, api_key=api_key, server_pid=proc.pid)
    if json_out:
        emit_json(report)
    else:
        err_console.print(
            f"{report.ok}/{report.requests} ok in {report.duration_s:.0f} s ({report.throughput_rps:.1f} req/s); "
            f"p50 {report.latency_ms_p50:.0f} ms, p95 {report.latency_ms_p95:.0f} ms; errors {report.errors}; "
            f"RSS {report.rss_mb_start} -> max {report.rss_mb_max} MiB"
        )
    if report.errors:
        raise typer.Exit(1)


@app.command("scene")
def scene(
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    video: Path | None = typer.Option(None, exists=True, dir_okay=False, help="A video file (default: the first 1080p scene of --library)."),
    library: Path | None = typer.Option(None, exists=True, file_okay=False, help="A rendered sample library to take a 1080p scene from."),
    runs: int = typer.Option(3, min=1, max=20, help="Timed runs per case (after one warm-up)."),
    num_frames: int = typer.Option(60, min=1, max=600),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Seconds to identify a 60-frame scene from a local file and over HTTP (Range), per stage."""
    from ..benchmark.scene_speed import measure_scene_speed

    if video is None:
        if library is None:
            fail("pass --video FILE or --library LIBDIR")
        from ..devtools.samplelib.library import load_library

        lib = load_library(library)
        candidates = [s for s in lib.scenes if min(s.width, s.height) == 1080] or lib.scenes
        video = lib.scene_path(candidates[0])
    report = measure_scene_speed(video, db, runs=runs, num_frames=num_frames)
    if json_out:
        emit_json(report)
    else:
        err_console.print(
            f"{report.width}x{report.height}, {report.num_frames} frames: {report.seconds_local:.2f}s local, "
            f"{report.seconds_http:.2f}s over HTTP (cold start {report.seconds_cold:.2f}s); {report.faces} faces"
        )


@app.command("duplicates")
def duplicates(
    scenes: int = typer.Option(50_000, min=100, max=1_000_000, help="Synthetic scenes written into a fresh stash_sense.db."),
    curve: bool = typer.Option(True, "--curve/--no-curve", help="Also time 5k, 10k, 20k, ... scenes for the growth curve."),
    seed: int = typer.Option(0, help="Seed of the synthetic library."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Time a full duplicate-scene analysis on a synthetic library (metadata, phashes, fingerprints)."""
    from ..benchmark.duplicates import measure_duplicates

    report = measure_duplicates(scenes, seed=seed, curve=curve)
    if json_out:
        emit_json(report)
    else:
        err_console.print(
            f"{report.scenes} scenes: {report.seconds:.2f} s, peak RSS {report.peak_rss_mb:.0f} MB, "
            f"{report.found_planted}/{report.planted} planted found, {report.false_positives} false positives; "
            f"curve {report.curve}"
        )


@app.command("crawl")
def crawl(
    from_folder: list[Path] = typer.Option(
        [], "--from-folder", metavar="DIR",
        help="Folder of labelled photos (<DIR>/<Identity>/<images>) the emulated stash-box serves; repeatable "
        "(default: $STASH_SENSE_FACEDATA's lfw/people, lfw/tuning and celeb17, ~5,700 identities).",
    ),
    limit: int | None = typer.Option(None, "--limit", min=8, help="Serve at most N identities (quick runs)."),
    max_requests_per_second: float = typer.Option(
        25.0, "--max-requests-per-second", min=0.5,
        help="The emulator's 429 limit for the crawl, resume and update sections; the crawls ask for 1.6x as much.",
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Empty folder for the catalogue, DBs and logs, kept (default: a temporary folder, removed).",
    ),
    speed_identities: int = typer.Option(300, "--speed-identities", min=8, help="Identities of the 5 requests/s speed crawl."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-back identities, the kill points and the edits."),
    embedder: str | None = typer.Option(None, "--embedder", help="Face embedder of the crawled DBs (default: the configured one)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The whole-stash-box crawl measured against the stash-box emulator (child processes, HTTP): a crawl
    under a 429 limit, one SIGKILLed twice and resumed, db update vs. a fresh crawl after edits, and the
    speed at 5 requests/s projected to 100,000 performers. Exits 1 when a check fails."""
    import shutil
    import tempfile

    from ..config import facedata_dir
    from ..devtools.crawl_bench import BenchOptions, run_crawl_bench

    folders = from_folder or [facedata_dir() / "lfw" / "people", facedata_dir() / "lfw" / "tuning", facedata_dir() / "celeb17"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        fail(f"photo folders not found: {', '.join(missing)} (pass --from-folder or set STASH_SENSE_FACEDATA)")
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        fail(f"--workdir {workdir} is not empty: the crawls would resume what is there")
    work = workdir or Path(tempfile.mkdtemp(prefix="stash-sense-bench-crawl-"))
    try:
        result = run_crawl_bench(BenchOptions(
            folders=folders, workdir=work, limit=limit, max_requests_per_second=max_requests_per_second,
            speed_identities=speed_identities, seed=seed, embedder=embedder,
        ))
    except (RuntimeError, ValueError, OSError) as exc:
        if json_out:
            emit_json({"ok": False, "error": f"bench crawl: {exc}"})
        fail(f"bench crawl: {exc}")
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if json_out:
        emit_json(result)
    else:
        err_console.print(
            f"crawl {result.get('crawl', {}).get('report', {}).get('seconds')} s; checks "
            f"{'all passed' if result['ok'] else 'FAILED: ' + ', '.join(result['failed_checks'])} ({result['seconds']} s in all)"
        )
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("index")
def index(
    faces: int = typer.Option(500_000, "--faces", min=1000, help="Faces in the synthetic DB."),
    performers: int | None = typer.Option(None, "--performers", min=1, help="Performers (default: faces / 5)."),
    dim: int | None = typer.Option(None, "--dim", min=8, help="Vector length (default: the configured embedder's)."),
    queries: int = typer.Option(1000, "--queries", min=10, help="Query faces."),
    kinds: str = typer.Option("faiss-flat,faiss-hnsw,faiss-ivf", "--kinds", help="Indexes to measure, comma-separated."),
    threads: int = typer.Option(0, "--threads", min=0, help="faiss threads (0: faiss's default, one per core)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Cost of a large face DB: index build and query time per face (synthetic faces), recall,
    SQLite + index size on disk and memory when loaded."""
    from ..benchmark.index_scale import measure_index_scale
    from ..faces.catalog import embedder_name, embedder_variant

    wanted = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in wanted if k not in ("faiss-flat", "faiss-hnsw", "faiss-ivf")]
    if unknown or not wanted:
        fail(f"--kinds takes faiss-flat, faiss-hnsw and faiss-ivf, not {', '.join(unknown) or 'nothing'}")
    vector_len = dim or embedder_variant(embedder_name())[0].dim
    report = measure_index_scale(
        faces=faces, performers=performers or max(1, faces // 5), dim=vector_len, queries=queries, kinds=wanted,
        threads=threads or None,
    )
    if json_out:
        emit_json(report)
        return
    for r in report.kinds:
        err_console.print(
            f"{r.kind}: build {r.build_seconds:.0f} s, {r.query_ms_single_median:.2f} ms/face (batched {r.query_ms_batched:.2f}), "
            f"recall@1 {r.recall_at_1:.3f}, {r.file_bytes / 1e6:.0f} MB"
        )
    err_console.print(f"disk {report.disk.total_bytes / 1e9:.2f} GB, RAM {report.ram_bytes_when_loaded['total'] / 1e9:.2f} GB")
