"""`POST /v1/execute`: run one script now and answer with everything an agent needs.

The route is a FastAPI route (its OpenAPI entry, its validation and errors), answered by
`ExecuteRoute`: a well-formed request (a JSON object that is a valid `ExecuteRequest`, a valid
`Idempotency-Key`) skips FastAPI's per-request machinery but goes through the same steps with the
route's own objects: its dependencies, the body and header fields' validation, the route's
function, the response model's validation and JSON. Anything else (no body, invalid JSON, a
field refused, an app with dependency overrides) is handed to FastAPI's own handler, which
answers it exactly as before.

The door (door.py) answers a `POST /v1/execute` through the same direct path before FastAPI's
exception middleware, router and request wrappers (`direct_for`): a request the direct path
does not take goes on through the whole app, as any other.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute

from runtime.adapters.http import deps
from runtime.adapters.http.deps import ExecutionsDep, TenantDep
from runtime.adapters.http.door import is_json
from runtime.adapters.http.schemas import (
    IDEMPOTENCY_KEY,
    ApiError,
    ExecuteRequest,
    execution_request,
)
from runtime.executions.outcome import ExecuteResponse

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# The direct path: the request and its whole body; None when it does not take the request.
Direct = Callable[[Request, bytes], Awaitable[Response | None]]
# The route's dependencies as declared below: the direct path calls them with the request alone.
DEPENDENCIES = frozenset({deps.executions, deps.tenant})
# Where an app keeps this route's direct path (as the app included it), for the door.
DIRECT_STATE = "execute_direct_path"


def direct_for(app: Any) -> tuple[APIRoute, Direct] | None:
    """The execute route and its direct path as `app` handles them, once FastAPI has built
    them; None before, or when the route is not the one declared here."""
    found: tuple[APIRoute, Direct] | None = getattr(getattr(app, "state", None), DIRECT_STATE, None)
    return found


class ExecuteRoute(APIRoute):
    """FastAPI's route for `execute`, with a direct path for well-formed requests."""

    def get_route_handler(self) -> Handler:
        slow: Handler = super().get_route_handler()
        route = self.effective()  # as included in the app: its dependencies and overrides
        if not self.direct_path_fits(route):
            return slow  # a dependency or parameter this path does not know: FastAPI's own
        body_field, response_field = route.body_field, route.response_field
        header = route.dependant.header_params[0]
        dependencies = [(d.name, d.call) for d in route.dependant.dependencies]
        endpoint = route.endpoint
        overrides = route.dependency_overrides_provider
        assert body_field is not None and response_field is not None

        async def direct(request: Request, raw: bytes) -> Response | None:
            if getattr(overrides, "dependency_overrides", None):
                return None  # FastAPI's handler applies the overrides
            if not raw or not is_json(request.headers.get("content-type")):
                return None
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return None
            key = request.headers.get(header.alias)
            body, body_errors = body_field.validate(data, {}, loc=("body",))
            _, header_errors = header.validate(key, {}, loc=("header", header.alias))
            if body_errors or header_errors or not isinstance(body, ExecuteRequest):
                return None
            arguments: dict[str, Any] = {body_field.name: body, header.name: key}
            for name, call in dependencies:  # in the route's order, as FastAPI solves them
                assert call is not None
                arguments[name] = await call(request)
            answer = await endpoint(**arguments)  # the route's own function
            value, errors = response_field.validate(answer, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer)
            return Response(
                content=response_field.serialize_json(value), media_type="application/json"
            )

        async def handler(request: Request) -> Response:
            raw = await request.body()  # kept on the request: the slow path reads it again
            answer = await direct(request, raw)
            return answer if answer is not None else await slow(request)

        state = getattr(overrides, "state", None)  # the app that included it
        # The door may take this path for the app's `/v1/execute`: only as the app serves the
        # route there (an inclusion under a prefix serves it elsewhere).
        if state is not None and getattr(route, "path", None) == self.path:
            setattr(state, DIRECT_STATE, (self, direct))
        return handler

    def effective(self) -> Any:
        """This route as FastAPI handles it in the app: an included router's route is handled
        with the inclusion's context (its dependencies, its app's dependency overrides), which
        FastAPI hands to `get_route_handler` in a context variable; else the route itself."""
        var = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = var.get() if var is not None else None
        if context is not None and getattr(context, "original_route", None) is self:
            return context
        return self

    def direct_path_fits(self, route: Any = None) -> bool:
        """The route still has exactly what the direct path does: the executions and tenant
        dependencies, the one header, the body, no query, path or cookie parameters."""
        route = self if route is None else route
        dependant = route.dependant
        calls = [d.call for d in dependant.dependencies]
        return (
            len(calls) == len(DEPENDENCIES)
            and set(calls) == DEPENDENCIES
            and [p.alias for p in dependant.header_params] == ["Idempotency-Key"]
            and not (dependant.query_params or dependant.path_params or dependant.cookie_params)
            and route.body_field is not None
            and route.response_field is not None
            and route.status_code in (None, 200)
        )


router = APIRouter(route_class=ExecuteRoute)


@router.post(
    "/v1/execute",
    response_model=ExecuteResponse,
    responses={
        400: {"model": ApiError},
        401: {"model": ApiError},
        413: {"model": ApiError},
        422: {"model": ApiError},
        429: {"model": ApiError},
        503: {"model": ApiError},
    },  # fmt: skip
    summary="Run a script in a fresh sandbox and return its result, output, calls and error",
)
async def execute(
    body: ExecuteRequest,
    executions: ExecutionsDep,
    tenant: TenantDep,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Any:
    return await executions.run(tenant, execution_request(body, idempotency_key))
