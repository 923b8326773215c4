"""GraphQL plumbing shared by the Stash and stash-box emulators.

Both serve the real upstream schema (built with graphql-core from the schema files) and answer
only the root fields they implement; every other root field fails with a clear error. Nested
fields that the emulator has no data for resolve to Go's zero values (``false``, ``0``, ``""``,
``[]``), as the Go servers do for unset struct fields, so generic clients that select every
field (stashapp-tools does) keep working.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationType,
    build_schema,
    get_operation_ast,
    graphql,
    parse,
)
from graphql.error import GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("stash_sense.devtools.emulator")

Resolver = Callable[..., Any]

_ZERO_SCALARS: dict[str, Any] = {
    "Boolean": False,
    "Int": 0,
    "Int64": 0,
    "Float": 0.0,
    "String": "",
    "ID": "",
    "Time": "0001-01-01T00:00:00Z",
    "Map": {},
    "BoolMap": {},
    "PluginConfigMap": {},
    "Any": None,
}


def schema_files(schema_dir: Path) -> list[Path]:
    """``schema.graphql`` plus ``types/*.graphql``, the globs the upstream builds use.

    ``schema_dir`` may be the ``graphql`` folder (holding ``schema/``) or ``schema/`` itself.
    """
    root = Path(schema_dir).expanduser().resolve()
    if (root / "schema" / "schema.graphql").is_file():
        root = root / "schema"
    main = root / "schema.graphql"
    if not main.is_file():
        raise FileNotFoundError(
            f"no schema.graphql under {schema_dir} (expected <dir>/schema/schema.graphql or <dir>/schema.graphql)"
        )
    return [main, *sorted((root / "types").glob("*.graphql"))]


@lru_cache(maxsize=4)
def load_schema(schema_dir: Path) -> GraphQLSchema:
    """The schema built from the upstream files (cached: building takes a few hundred ms).

    Resolvers attached to it read everything from ``info.context``, so one schema object can
    serve several emulator instances at once.
    """
    sdl = "\n".join(path.read_text(encoding="utf-8") for path in schema_files(schema_dir))
    return build_schema(sdl)


def attach_resolvers(schema: GraphQLSchema, resolvers: Mapping[tuple[str, str], Resolver], service: str) -> None:
    """Install ``{(type, field): resolver}`` and make every other root field fail clearly."""
    for (type_name, field_name), resolver in resolvers.items():
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType) or field_name not in graphql_type.fields:
            raise KeyError(f"{type_name}.{field_name} is not in the {service} schema")
        graphql_type.fields[field_name].resolve = resolver
    for root in (schema.query_type, schema.mutation_type):
        if root is None:
            continue
        for field_name, field in root.fields.items():
            if (root.name, field_name) not in resolvers:
                field.resolve = _unsupported(service, root.name, field_name)


def _unsupported(service: str, type_name: str, field_name: str) -> Resolver:
    def resolve(_source: Any, _info: GraphQLResolveInfo, **_args: Any) -> Any:
        raise GraphQLError(f"{type_name}.{field_name} is not implemented by the {service} emulator")

    return resolve


def zero_value_resolver(source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """Read the field from a dict source; fall back to the Go zero value of its type."""
    if isinstance(source, Mapping):
        if info.field_name in source:
            return source[info.field_name]
    elif source is not None and hasattr(source, info.field_name):
        return getattr(source, info.field_name)
    return zero_value(info.return_type, f"{info.parent_type.name}.{info.field_name}")


def zero_value(graphql_type: Any, where: str) -> Any:
    if not isinstance(graphql_type, GraphQLNonNull):
        return None
    inner = graphql_type.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLScalarType):
        return _ZERO_SCALARS.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType):
        return {}
    if isinstance(inner, (GraphQLEnumType, GraphQLInterfaceType, GraphQLUnionType)):
        raise GraphQLError(f"{where} has no value in the emulator")
    return None


class GraphQLEndpoint:
    """``POST /graphql`` (JSON body) and ``GET /graphql?query=...`` (queries only)."""

    def __init__(self, schema: GraphQLSchema, context: Callable[[Request], Any]):
        self.schema = schema
        self.context = context

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            params = request.query_params
            query = params.get("query")
            variables_text = params.get("variables")
            operation_name = params.get("operationName")
            try:
                variables = json.loads(variables_text) if variables_text else None
            except json.JSONDecodeError as exc:
                return _error_response(f"variables is not valid JSON: {exc}", 400)
        elif request.method == "POST":
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return _error_response(f"request body is not valid JSON: {exc}", 400)
            if not isinstance(body, dict):
                return _error_response("request body must be a JSON object with a 'query'", 400)
            query, variables, operation_name = body.get("query"), body.get("variables"), body.get("operationName")
        else:
            return _error_response("use POST (or GET for queries)", 405)
        if not isinstance(query, str) or not query.strip():
            return _error_response("missing 'query'", 400)
        if variables is not None and not isinstance(variables, dict):
            return _error_response("'variables' must be a JSON object", 400)
        if request.method == "GET":
            refusal = _refuse_mutation_over_get(query, operation_name)
            if refusal is not None:
                return refusal
        result = await graphql(
            self.schema,
            query,
            variable_values=variables,
            operation_name=operation_name,
            context_value=self.context(request),
            field_resolver=zero_value_resolver,
        )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        payload["data"] = result.data
        # Like gqlgen: a document that fails to parse or validate is a 422; execution
        # errors travel in a 200 next to whatever data could be resolved.
        status = 422 if result.errors and result.data is None and _is_request_error(result.errors) else 200
        return JSONResponse(payload, status_code=status)


def _is_request_error(errors: list[GraphQLError]) -> bool:
    return all(error.path is None for error in errors)


def _refuse_mutation_over_get(query: str, operation_name: str | None) -> Response | None:
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return None  # graphql() reports the syntax error itself
    operation = get_operation_ast(document, operation_name)
    if operation is not None and operation.operation != OperationType.QUERY:
        return _error_response(f"{operation.operation.value} operations must use POST", 405)
    return None


def _error_response(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}], "data": None}, status_code=status)

