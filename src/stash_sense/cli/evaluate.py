"""``stash-sense eval``: accuracy on labelled photos (out-of-sample figures only)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import MAX_DISTANCE_HELP, emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


def _embedder(embedder: str | None, flip: bool | None) -> tuple[str, bool]:
    """(base model, flip) for an evaluation: ``--embedder`` (default: the configured embedder),
    with ``--flip/--no-flip`` overriding its ``+flip`` suffix."""
    from ..faces.catalog import embedder_name, embedder_variant

    try:
        entry, variant = embedder_variant(embedder or embedder_name())
    except ValueError as exc:
        fail(str(exc))
    return entry.name, variant.flip if flip is None else flip


def _label(base: str, flip: bool) -> str:
    from ..faces.catalog import variant_name

    return variant_name(base, flip)


def _embeddings(paths: list[Path], base: str, flip: bool, workers: int | None) -> dict:
    from ..evaluation.embedcache import EmbeddingCache
    from ..faces.detect import default_detector
    from ..faces.embedders import create_embedder
    from ..faces.models import ModelLoadError
    from ..faces.parallel import FaceWorkerPool

    embedder = create_embedder(base)
    try:
        embedder.check_available()
    except ModelLoadError as exc:
        fail(str(exc))
    # The cache stores plain and mirrored descriptors, so one pass serves both variants.
    pool = FaceWorkerPool(workers, embedder=base)
    try:
        # Keyed by the preprocessing too: a changed alignment never reuses older vectors.
        cache = EmbeddingCache(f"{base}_{embedder.preprocessing}", default_detector().name)
        found = cache.get(sorted(set(paths)), pool)
    finally:
        pool.close()
    return {p: e.vector(flip, embedder.vector_norm) for p, e in found.items()}


def _calibration(base: str, flip: bool, file: Path | None):
    import json

    from ..matching.calibration import Calibration, load_default_calibration

    if file is not None:
        return Calibration.from_dict(json.loads(file.read_text()))
    try:
        return load_default_calibration(_label(base, flip))
    except KeyError as exc:
        fail(f"{exc.args[0]}; pass --calibration FILE (see `stash-sense eval calibrate`)")


_EMBEDDER_HELP = "Face embedder (default: the configured one, STASH_SENSE_EMBEDDER)."
_FLIP_HELP = "Average each descriptor with its mirror image's (default: as the embedder's name says)."


@app.command("verify")
def verify(
    pairs: Path = typer.Option(..., exists=True, dir_okay=False, help="LFW pairs.txt"),
    images: list[Path] = typer.Option(..., help="Folder(s) of <Name>/<Name>_NNNN.jpg; repeatable."),
    folds: str = typer.Option("1-2", help="Folds to report, e.g. 1-2 or 1,3."),
    fit_images: list[Path] = typer.Option(
        [], help="Extra folder(s) holding the images of the threshold-fitting folds (default: <pairs dir>/tuning)."
    ),
    embedder: str | None = typer.Option(None, "--embedder", help=_EMBEDDER_HELP),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help=_FLIP_HELP),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """LFW-protocol verification: threshold fitted on the other folds, reported on FOLDS."""
    from ..evaluation.verify import evaluate_verification, image_path, parse_folds, read_pairs

    try:
        fold_list = parse_folds(folds)
        all_pairs = read_pairs(pairs)
    except ValueError as exc:
        fail(str(exc))
    roots = list(images) + (list(fit_images) or [p for p in [pairs.parent / "tuning"] if p.is_dir()])
    needed = [image_path(roots, *side) for p in all_pairs for side in (p.a, p.b)]
    base, use_flip = _embedder(embedder, flip)
    emb = _embeddings([p for p in needed if p is not None], base, use_flip, workers or None)
    report = evaluate_verification(all_pairs, emb, roots, fold_list, embedding_label=_label(base, use_flip))
    if json_out:
        emit_json(report)
        return
    err_console.print(
        f"accuracy {report.accuracy:.4f} (on detected pairs {report.accuracy_on_detected:.4f}) at threshold "
        f"{report.threshold:.3f} fitted on {report.threshold_fitted_on}; {report.pairs} pairs, "
        f"{report.detection_failures} lost to detection"
    )


@app.command("identify")
def identify(
    dataset: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of <identity>/<images>."),
    gallery_per_identity: int = typer.Option(1, min=1, help="Gallery images per identity (first K by file name)."),
    distractors: Path | None = typer.Option(None, exists=True, file_okay=False, help="Extra gallery identities, never probed."),
    min_confidence: float | None = typer.Option(None, min=0.0, max=1.0, help="Acceptance threshold (default: calibrated operating point)."),
    max_distance: float = typer.Option(0.6, min=0.0, help="Hard distance ceiling for acceptance."),
    embedder: str | None = typer.Option(None, "--embedder", help=_EMBEDDER_HELP),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help=_FLIP_HELP),
    calibration: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Calibration JSON (default: shipped one)."),
    sweep: bool = typer.Option(False, help="Also report rates over a range of thresholds."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Open-set identification: top-1/top-5 on known probes, false accepts of unknown probes."""
    from ..evaluation.identify import evaluate_identification, make_split
    from ..matching import MatchParams
    from ..photos import list_identities

    try:
        data = list_identities(dataset)
        extra = list_identities(distractors) if distractors else None
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    split = make_split(data, gallery_per_identity, extra)
    paths = [p for imgs in split.gallery.values() for p in imgs] + [p for _, p in split.known_probes + split.unknown_probes]
    base, use_flip = _embedder(embedder, flip)
    emb = _embeddings(paths, base, use_flip, workers or None)
    cal = _calibration(base, use_flip, calibration)
    report = evaluate_identification(
        split,
        emb,
        cal,
        MatchParams(max_distance=max_distance, min_confidence=min_confidence),
        embedding_label=_label(base, use_flip),
        sweep=[round(x, 2) for x in [0.05 * i for i in range(1, 20)]] if sweep else None,
    )
    if json_out:
        emit_json(report)
        return
    err_console.print(
        f"top-1 {report.top1:.4f}  top-5 {report.top5:.4f}  accepted-correct {report.accepted_correct_rate:.4f}  "
        f"unknown false-accept {report.unknown_false_accept_rate:.4f}  (min_confidence {report.min_confidence:.2f}; "
        f"{report.known_probes} known, {report.unknown_probes} unknown probes, {report.gallery_identities} gallery identities)"
    )


@app.command("calibrate")
def calibrate(
    tuning: Path = typer.Option(..., exists=True, file_okay=False, help="LFW tuning folder (identities + strangers)."),
    people: Path = typer.Option(..., exists=True, file_okay=False, help="LFW people folder (only its identity NAMES are read, to tell known from strangers)."),
    out: Path = typer.Option(..., help="Where to write the calibration JSON."),
    embedder: str | None = typer.Option(None, "--embedder", help=_EMBEDDER_HELP),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help=_FLIP_HELP),
    target_far: float = typer.Option(0.03, help="Unknown false-accept rate the default operating point aims for."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Fit the distance->confidence calibration on tuning data only."""
    from ..evaluation.calibrate import fit_calibration, tuning_split
    from ..photos import list_identities

    split = tuning_split(list_identities(tuning), {p.name for p in people.iterdir() if p.is_dir()})
    paths = [p for imgs in split.gallery.values() for p in imgs] + [p for _, p in split.known_probes + split.unknown_probes]
    base, use_flip = _embedder(embedder, flip)
    emb = _embeddings(paths, base, use_flip, workers or None)
    cal = fit_calibration(split, emb, model=_label(base, use_flip), target_far=target_far)
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cal.to_dict(), indent=2) + "\n")
    if json_out:
        emit_json(cal.to_dict())
    else:
        err_console.print(f"wrote {out}: default_min_confidence {cal.default_min_confidence:.2f}, metrics {cal.metrics}")


@app.command("gallery-scale")
def gallery_scale(
    people: Path | None = typer.Option(None, file_okay=False, help="lfw/people (default: $STASH_SENSE_FACEDATA/lfw/people)."),
    tuning: Path | None = typer.Option(None, file_okay=False, help="lfw/tuning (default: $STASH_SENSE_FACEDATA/lfw/tuning)."),
    celeb: Path | None = typer.Option(None, "--celeb17", file_okay=False, help="celeb17 (default: $STASH_SENSE_FACEDATA/celeb17)."),
    celeb_rounds: int | None = typer.Option(None, min=1, help="celeb17 rounds, one held-out photo per actor each (default: all)."),
    raw_labels: bool = typer.Option(False, "--raw-labels", help="Keep LFW's known label errors (aliases, mislabelled photos)."),
    target_far: float = typer.Option(0.01, help="Unknown false-accept rate the operating points aim for."),
    max_distance: float = typer.Option(0.6, min=0.0, help="Hard distance ceiling for acceptance."),
    embedder: str | None = typer.Option(None, "--embedder", help=_EMBEDDER_HELP),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help=_FLIP_HELP),
    calibration: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Calibration JSON (default: shipped one)."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Open-set identification with every identity of lfw/people, lfw/tuning and celeb17 in one
    gallery (~5,000), beside the usual lfw/people gallery, extrapolated to 10,000 and 100,000."""
    from ..config import facedata_dir
    from ..evaluation.gallery_scale import evaluate_gallery_scale
    from ..evaluation.scale_split import make_scale_split
    from ..photos import list_identities

    root = facedata_dir()
    try:
        split = make_scale_split(
            list_identities(people or root / "lfw" / "people"),
            list_identities(tuning or root / "lfw" / "tuning"),
            list_identities(celeb or root / "celeb17"),
            clean_labels=not raw_labels,
        )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    base, use_flip = _embedder(embedder, flip)
    emb = _embeddings(split.all_paths(), base, use_flip, workers or None)
    cal = _calibration(base, use_flip, calibration)
    err_console.print(f"{len(emb)} photos embedded; measuring and modelling ...")
    try:
        report = evaluate_gallery_scale(
            split, emb, cal, embedding_label=_label(base, use_flip), max_distance=max_distance, target_far=target_far,
            celeb_rounds=celeb_rounds,
        )
    except ValueError as exc:
        fail(str(exc))
    if json_out:
        emit_json(report)
        return
    err_console.print(
        f"{report.identities} identities at min_confidence {report.min_confidence:.2f}: top-1 {report.top1}, unknown false accepts "
        f"{report.unknown_false_accept_rate}, accepted-correct {report.accepted_correct_rate}; at {report.small_gallery.identities} "
        f"identities: {report.small_gallery.model_dump()}; extrapolated false accepts: {report.extrapolation.unknown_false_accept_rate}; "
        f"100,000 identities: min_confidence {report.operating_point_100k.min_confidence:.2f}"
    )


@app.command("scenes")
def scenes(
    library: Path = typer.Option(..., exists=True, file_okay=False, help="Rendered sample library (library.json)."),
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    scene_ids: str | None = typer.Option(None, "--scenes", help="Only these scene ids, e.g. 1,2,3."),
    num_frames: int | None = typer.Option(None, help="Frames per scene (default 60)."),
    matching_mode: str | None = typer.Option(None, help="frequency, cluster or hybrid."),
    max_distance: float | None = typer.Option(None, help=MAX_DISTANCE_HELP),
    min_confidence: float | None = typer.Option(None, help="Score a performer needs."),
    param: list[str] = typer.Option([], "--param", help="Any engine parameter as KEY=VALUE; repeatable."),
    params_file: Path | None = typer.Option(None, help="JSON file of parameters."),
    rows: bool = typer.Option(False, help="Include per-scene rows in the JSON."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Precision/recall of scene identification on a sample library, beside a naive baseline."""
    from ..devtools.samplelib.library import SampleLibraryError, load_library
    from ..evaluation.scene_eval import evaluate_scenes
    from ..scenes.engine import SceneEngine
    from ._common import scene_params
    from .identify import open_recognizer

    params = scene_params(
        params_file=str(params_file) if params_file else None, overrides=param, num_frames=num_frames,
        matching_mode=matching_mode, max_distance=max_distance, min_confidence=min_confidence,
    )
    try:
        lib = load_library(library)
    except (SampleLibraryError, OSError, ValueError) as exc:
        fail(f"cannot load library {library}: {exc}")
    engine = SceneEngine(open_recognizer(db))
    ids = [s.strip() for s in scene_ids.split(",") if s.strip()] if scene_ids else None
    try:
        report = evaluate_scenes(lib, engine, params, scene_ids=ids)
    except ValueError as exc:
        fail(str(exc))
    if json_out:
        data = report.model_dump(mode="json")
        if not rows:
            data.pop("rows")
        emit_json(data)
        return
    err_console.print(
        f"ours: precision {report.precision:.3f} recall {report.recall:.3f} FP/scene {report.false_positives_per_scene:.2f} "
        f"({report.seconds_per_scene:.1f}s/scene)\nnaive baseline: precision {report.baseline['precision']:.3f} "
        f"recall {report.baseline['recall']:.3f} FP/scene {report.baseline['false_positives_per_scene']:.2f}"
    )
    for tier, m in report.by_tier.items():
        err_console.print(f"  {tier}: precision {m['precision']:.3f} recall {m['recall']:.3f} ({m['scenes']} scenes)")


@app.command("duplicates")
def duplicates(
    library: Path | None = typer.Option(
        None, file_okay=False,
        help="A sample library with planted duplicates (default: render one under the cache folder, or reuse it).",
    ),
    faces: Path | None = typer.Option(None, help="Photos to render the default library from (default: $STASH_SENSE_FACEDATA/celeb17)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run every duplicate analyzer against the Stash emulator serving a library with planted
    duplicates; precision and recall of scenes, performers and files against the truth."""
    from ..config import cache_dir, facedata_dir
    from ..devtools.emulator import create_app, run_in_thread
    from ..devtools.samplelib.duplicates import ensure_duplicates_library, plant_duplicates
    from ..devtools.samplelib.library import SampleLibraryError, load_library
    from ..evaluation.duplicates import evaluate_duplicates

    api_key = "eval-duplicates-key"  # the emulator demands a key, as a real Stash with credentials does

    try:
        if library is None:
            photos = faces or facedata_dir() / "celeb17"
            if not photos.is_dir():
                fail(f"photos not found at {photos} (pass --faces, --library or set STASH_SENSE_FACEDATA)")
            target = cache_dir() / "duplicates-library"
            err_console.print(f"library with planted duplicates: {target}")
            lib_dir = ensure_duplicates_library(target, photos).root
        else:
            lib_dir = plant_duplicates(library).root
        sample = load_library(lib_dir)
        if sample.duplicates is None:
            raise SampleLibraryError(f"{sample.root} has no planted duplicates (plant them with `stash-sense samplelib plant-duplicates`)")
        # The emulator serves the library over HTTP with the real Stash schema, file phashes included.
        with run_in_thread(create_app(sample.root, api_key=api_key)) as url:
            report = evaluate_duplicates(url, sample.duplicates, api_key=api_key, library=str(sample.root))
    except (SampleLibraryError, OSError, RuntimeError) as exc:
        fail(str(exc))
    if json_out:
        emit_json(report)
        return
    for name in ("scenes", "performers", "files"):
        score = getattr(report, name)
        err_console.print(
            f"{name}: precision {score.precision:.3f} recall {score.recall:.3f} ({score.correct} of {score.planted} planted, "
            f"{score.found} raised)"
        )
