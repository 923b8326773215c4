"""Every GraphQL document we send is valid against the real Stash / stash-box schemas.

Documents are discovered from ``stash_sense.stash.documents`` by type, so a new constant is
checked without touching this file. The filter builders are checked the same way, by coercing
their output into the schema's input types.
"""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    coerce_input_value,
    parse,
    validate,
)
from graphql.error import GraphQLError
from stash_helpers import STASHDB, stash_schema_or_skip, stashbox_schema_or_skip

from stash_sense.stash import documents as docs
from stash_sense.stash import filters
from stash_sense.stash.documents import Document, Fragment, Target


def _discovered() -> dict[str, Document]:
    return {name: value for name, value in vars(docs).items() if isinstance(value, Document)}


DOCUMENTS = _discovered()


def _schema(target: Target) -> GraphQLSchema:
    return stash_schema_or_skip() if target is Target.STASH else stashbox_schema_or_skip()


def _errors(document: Document) -> list[str]:
    """Validation problems of ``document`` against its target schema (empty = valid)."""
    try:
        ast = parse(document.source)
    except GraphQLError as exc:
        return [f"syntax: {exc.message}"]
    return [e.message for e in validate(_schema(document.target), ast)]


def test_documents_are_discovered() -> None:
    # The module exposes a few dozen documents; an empty discovery would make the
    # parametrized test below vacuous.
    assert len(DOCUMENTS) >= 12
    assert docs.all_documents() == DOCUMENTS
    assert {d.target for d in DOCUMENTS.values()} == {Target.STASH, Target.STASHBOX}


@pytest.mark.parametrize("const", sorted(DOCUMENTS))
def test_document_is_valid_against_real_schema(const: str) -> None:
    document = DOCUMENTS[const]
    assert _errors(document) == [], f"{const} is invalid against the {document.target.value} schema"
    ops = [d for d in parse(document.source).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(ops) == 1, f"{const} must hold exactly one operation"
    assert ops[0].name is not None and ops[0].name.value == document.name
    assert document.is_mutation == (ops[0].operation.value == "mutation")


def test_operation_names_are_unique() -> None:
    names = [(d.target, d.name) for d in DOCUMENTS.values()]
    assert len(names) == len(set(names))


def test_validation_catches_broken_documents() -> None:
    """The check above can fail: wrong fields, wrong args, bad syntax and unused fragments are caught."""
    stale_field = Document(
        "Stale", Target.STASH, "query Stale($id: ID!) { findScene(id: $id) { id file { path } } }"
    )  # Scene.file was removed from Stash
    wrong_name = Document(
        "WrongName", Target.STASH, 'query WrongName { findPerformer(id: "1") { id aliases } }'
    )  # Stash calls it alias_list; `aliases` is stash-box's name
    wrong_arg = Document(
        "WrongArg", Target.STASH, "query WrongArg { findScenes(scene_filter: {resolution: {value: HD}}) { count } }"
    )
    syntax = Document("Syntax", Target.STASH, "query Syntax { version { version }")
    wrong_schema = Document(
        "BoxOnly", Target.STASH, "query BoxOnly($id: ID!) { findPerformer(id: $id) { images { url } } }"
    )
    unused = Document(
        "Unused",
        Target.STASH,
        "query Unused { version { version } }",
        (Fragment("Orphan", "fragment Orphan on Scene { id }"),),
    )
    for broken in (stale_field, wrong_name, wrong_arg, syntax, wrong_schema, unused):
        assert _errors(broken), f"{broken.name} should have failed validation"


def test_stashbox_documents_are_not_valid_for_stash() -> None:
    """Targets matter: the stash-box performer query would be rejected by Stash."""
    box = docs.STASHBOX_FIND_PERFORMER
    as_stash = Document(box.name, Target.STASH, box.operation, box.fragments)
    assert _errors(as_stash)


def test_fragments_are_included_once_with_dependencies() -> None:
    source = docs.FIND_SCENES.source
    assert source.count("fragment StashIDFields on StashID") == 1
    assert "fragment VideoFileFields" in source and "fragment ScenePerformerFields" in source


# -- filter builders against the schema's input types -----------------------------------------------


def _coerce(type_name: str, value: object) -> None:
    schema = stash_schema_or_skip()
    problems: list[str] = []

    def on_error(path: list, invalid: object, error: GraphQLError) -> None:
        problems.append(f"{path}: {error.message}")

    coerce_input_value(value, schema.get_type(type_name), on_error)  # type: ignore[arg-type]
    assert problems == [], problems


@pytest.mark.parametrize(
    "scene_filter",
    [
        filters.has_stash_id(STASHDB),
        filters.has_stash_id(),
        filters.stash_id_equals(STASHDB, "abc"),
        filters.performer_count_at_least(2),
        filters.with_performers([1, "2"], all_of=True),
        filters.updated_since("2024-01-01"),
        filters.all_of(filters.has_stash_id(STASHDB), filters.performer_count_at_least(2)),
        filters.all_of(
            filters.performer_count_at_least(2),
            {"stash_id_endpoint": {"modifier": "NOT_NULL"}, "OR": {"organized": True}},
            filters.updated_since("2024-01-01"),
        ),
    ],
)
def test_scene_filters_fit_the_schema(scene_filter: dict) -> None:
    _coerce("SceneFilterType", scene_filter)


def test_performer_filters_fit_the_schema() -> None:
    _coerce("PerformerFilterType", filters.all_of(filters.has_stash_id(STASHDB), filters.updated_since("2024-01-01")))


def test_coercion_check_can_fail() -> None:
    with pytest.raises(AssertionError):
        _coerce("SceneFilterType", {"performer_count": {"value": "two", "modifier": "GREATER_THAN"}})


def test_all_of_nests_and_refuses_two_operators() -> None:
    combined = filters.all_of(filters.performer_count_at_least(2), filters.has_stash_id(STASHDB))
    assert combined == {
        "performer_count": {"value": 1, "modifier": "GREATER_THAN"},
        "AND": {"stash_id_endpoint": {"modifier": "NOT_NULL", "endpoint": STASHDB}},
    }
    with pytest.raises(ValueError, match="both use AND/OR/NOT"):
        filters.all_of({"OR": {"organized": True}}, {"NOT": {"organized": True}})
    assert filters.all_of() == {}
    with pytest.raises(ValueError):
        filters.performer_count_at_least(0)
    with pytest.raises(ValueError):
        filters.with_performers([])
