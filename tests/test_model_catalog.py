"""The model catalog is the one place an embedder is declared: every variant it lists opens,
has its calibration file, and the rest of the code reads names and ceilings from it."""

from __future__ import annotations

from importlib import resources

import pytest

from stash_sense.faces.catalog import (
    CATALOG,
    DEFAULT_EMBEDDER,
    EMBEDDER_NAMES,
    INSTALLABLE,
    PREFERRED_EMBEDDER,
    calibration_file,
    catalog_entry,
    embedder_variant,
    installable_entry,
    scene_ceilings,
    variant_name,
)
from stash_sense.faces.embedders import create_embedder
from stash_sense.matching import load_default_calibration
from stash_sense.scenes.params import SceneParams


def test_every_variant_opens_and_has_its_calibration() -> None:
    shipped = {p.name for p in resources.files("stash_sense.matching").joinpath("calibrations").iterdir()}
    named = set()
    for entry in CATALOG.values():
        assert entry.variants and {v.flip for v in entry.variants} == {False, True}
        for variant in entry.variants:
            assert embedder_variant(variant.name) == (entry, variant)
            assert catalog_entry(variant.name) is entry
            assert variant_name(entry.name, variant.flip) == variant.name
            assert variant.calibration in shipped
            assert load_default_calibration(variant.name).model == variant.name
            embedder = create_embedder(variant.name)  # nothing is loaded
            assert (embedder.model_name, embedder.dim, embedder.flip) == (variant.name, entry.dim, variant.flip)
            named.add(variant.calibration)
    assert named == shipped, "a calibration file no catalog entry names"
    assert set(EMBEDDER_NAMES) == {v.name for e in CATALOG.values() for v in e.variants}
    assert DEFAULT_EMBEDDER in CATALOG and not CATALOG[DEFAULT_EMBEDDER].installable
    assert PREFERRED_EMBEDDER in INSTALLABLE


def test_unknown_names_say_what_is_known() -> None:
    with pytest.raises(ValueError, match="unknown face embedder 'nope'.*edgeface-xs"):
        create_embedder("nope")
    with pytest.raises(KeyError, match="no calibration shipped"):
        calibration_file("nope")
    with pytest.raises(KeyError, match="ships with Stash Sense"):
        installable_entry(DEFAULT_EMBEDDER)


def test_scene_ceilings_come_from_the_catalog() -> None:
    ceilings = scene_ceilings()
    assert ceilings == {"edgeface-xs": 0.48}
    for name in EMBEDDER_NAMES:
        assert SceneParams().for_embedder(name).max_distance == ceilings.get(name, 0.6)
