"""Every document of the recommendations engine is valid against the real Stash schema."""

from __future__ import annotations

import pytest
from graphql import parse, validate
from stash_helpers import stash_schema_or_skip

from stash_sense.stash import library_documents
from stash_sense.stash.documents import Target

DOCUMENTS = library_documents.all_documents()


def test_documents_are_discovered() -> None:
    assert {"ANALYSIS_SCENES", "PERFORMER_MERGE", "SCENE_MERGE", "DELETE_FILES"} <= set(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_against_the_stash_schema(name: str) -> None:
    document = DOCUMENTS[name]
    assert document.target is Target.STASH
    ast = parse(document.source)
    errors = [e.message for e in validate(stash_schema_or_skip(), ast)]
    assert errors == [], f"{name}: {errors}"
    assert ast.definitions[0].name.value == document.name
