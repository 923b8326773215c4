"""GraphQL subscriptions over WebSocket at ``/graphql``, as Stash's UI uses them.

The UI (``graphql-ws``) speaks the ``graphql-transport-ws`` protocol: ``connection_init`` /
``connection_ack``, then ``subscribe`` messages answered by ``next`` ... ``complete``, with
``ping``/``pong``. Of Stash's three subscriptions, ``jobsSubscribe`` reports the job queue
(ADD when a job is queued, UPDATE on status or progress changes, REMOVE with its final status
when it ends, as Stash's job manager does); ``scanCompleteSubscribe`` and ``loggingSubscribe``
never fire here (the emulator runs no scans and keeps no log stream), so they stay open and
silent. Queries and mutations sent over the socket are answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    subscribe,
    validate,
)
from graphql.error import GraphQLSyntaxError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from stash_sense.devtools.emulator.gql import zero_value_resolver

log = logging.getLogger("stash_sense.devtools.emulator")

PROTOCOL = "graphql-transport-ws"
POLL_S = 0.2  # how often the job queue is looked at (Stash throttles its updates to 100 ms)
_ENDED = ("FINISHED", "CANCELLED", "FAILED")


async def _jobs(_root: Any, info: GraphQLResolveInfo) -> AsyncIterator[dict[str, Any]]:
    host: Any = getattr(info.context, "plugins", None)
    while host is None:
        await asyncio.Event().wait()  # no job can ever run: silent until the client leaves
    known: dict[int, dict[str, Any]] = {}
    # Jobs that ended before this subscription are history, not news.
    done = {job_id for job_id, job in host.jobs.items() if job.status in _ENDED}
    while True:
        for job_id, job in list(host.jobs.items()):
            if job_id in done:
                continue
            state = job.as_graphql()
            if job_id not in known:
                known[job_id] = state
                yield {"type": "ADD", "job": state}
            elif state != known[job_id] and state["status"] not in _ENDED:
                known[job_id] = state
                yield {"type": "UPDATE", "job": state}
            if state["status"] in _ENDED:
                done.add(job_id)
                known.pop(job_id, None)
                yield {"type": "REMOVE", "job": state}
        await asyncio.sleep(POLL_S)


async def _silent(_root: Any, _info: GraphQLResolveInfo) -> AsyncIterator[Any]:
    await asyncio.Event().wait()
    yield None  # never reached: keeps this an async generator


def _event(event: Any, _info: GraphQLResolveInfo) -> Any:
    return event


def attach_subscriptions(schema: GraphQLSchema) -> None:
    """Install the subscription root fields (the others would fail as unimplemented)."""
    root = schema.subscription_type
    if root is None:
        return
    sources: Mapping[str, Callable[..., AsyncIterator[Any]]] = {
        "jobsSubscribe": _jobs, "scanCompleteSubscribe": _silent, "loggingSubscribe": _silent,
    }
    for name, field in root.fields.items():
        if name in sources:
            field.subscribe, field.resolve = sources[name], _event
        else:
            field.subscribe = _unsupported(name)


def _unsupported(name: str) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise GraphQLError(f"Subscription.{name} is not implemented by the Stash emulator")

    return fail


class GraphQLWebSocket:
    """The ``/graphql`` WebSocket endpoint (``graphql-transport-ws``)."""

    def __init__(self, schema: GraphQLSchema, context: Callable[[WebSocket], Any], *, init_timeout: float = 10.0):
        self.schema = schema
        self.context = context
        self.init_timeout = init_timeout

    async def handle(self, websocket: WebSocket) -> None:
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.close(code=4406, reason="Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        session = _Session(self, websocket)
        try:
            await session.run()
        except WebSocketDisconnect:
            pass
        finally:
            await session.cancel_all()


class _Session:
    def __init__(self, endpoint: GraphQLWebSocket, websocket: WebSocket):
        self.endpoint = endpoint
        self.websocket = websocket
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.send_json(message)

    async def close(self, code: int, reason: str) -> None:
        async with self.send_lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code=code, reason=reason)

    async def run(self) -> None:
        try:
            first = await asyncio.wait_for(self.websocket.receive_json(), timeout=self.endpoint.init_timeout)
        except TimeoutError:
            await self.close(4408, "Connection initialisation timeout")
            return
        if not isinstance(first, dict) or first.get("type") != "connection_init":
            await self.close(4401, "Unauthorized")
            return
        await self.send({"type": "connection_ack"})
        while True:
            message = await self.websocket.receive_json()
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "connection_init":
                await self.close(4429, "Too many initialisation requests")
                return
            elif kind == "subscribe":
                op_id = str(message.get("id") or "")
                if not op_id:
                    await self.close(4400, "subscribe needs an id")
                    return
                if op_id in self.operations:
                    await self.close(4409, f"Subscriber for {op_id} already exists")
                    return
                payload = message.get("payload") or {}
                self.operations[op_id] = asyncio.get_running_loop().create_task(self.operate(op_id, payload))
            elif kind == "complete":
                task = self.operations.pop(str(message.get("id")), None)
                if task is not None:
                    task.cancel()
            else:
                await self.close(4400, f"Invalid message type {kind!r}")
                return

    async def operate(self, op_id: str, payload: Mapping[str, Any]) -> None:
        try:
            await self._operate(op_id, payload)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one failed operation must not end the connection
            log.exception("subscription %s failed", op_id)
            await self.send({"id": op_id, "type": "error", "payload": [{"message": "internal error in the Stash emulator"}]})
        finally:
            self.operations.pop(op_id, None)

    async def _operate(self, op_id: str, payload: Mapping[str, Any]) -> None:
        query = payload.get("query")
        try:
            document = parse(query if isinstance(query, str) else "")
        except GraphQLSyntaxError as exc:
            await self.send({"id": op_id, "type": "error", "payload": [exc.formatted]})
            return
        errors = validate(self.endpoint.schema, document)
        if errors:
            await self.send({"id": op_id, "type": "error", "payload": [e.formatted for e in errors]})
            return
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        context = self.endpoint.context(self.websocket)
        operation = get_operation_ast(document, operation_name)
        if operation is not None and operation.operation != OperationType.SUBSCRIPTION:
            result = execute(
                self.endpoint.schema, document, context_value=context, variable_values=variables,
                operation_name=operation_name, field_resolver=zero_value_resolver,
            )
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            await self.send({"id": op_id, "type": "next", "payload": _payload(result)})  # type: ignore[arg-type]
            await self.send({"id": op_id, "type": "complete"})
            return
        stream = await subscribe(
            self.endpoint.schema, document, context_value=context, variable_values=variables, operation_name=operation_name,
            field_resolver=zero_value_resolver,
        )
        if isinstance(stream, ExecutionResult):
            await self.send({"id": op_id, "type": "error", "payload": [e.formatted for e in stream.errors or ()]})
            return
        try:
            async for result in stream:
                await self.send({"id": op_id, "type": "next", "payload": _payload(result)})
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        await self.send({"id": op_id, "type": "complete"})

    async def cancel_all(self) -> None:
        tasks = list(self.operations.values())
        self.operations.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _payload(result: ExecutionResult) -> dict[str, Any]:
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [e.formatted for e in result.errors]
    return out
