"""`POST /v1/execute`: run one script now and answer with everything an agent needs.

The route is a FastAPI route (its OpenAPI entry, its validation and errors), answered by
`ExecuteRoute`: a well-formed request (a JSON object that is a valid `ExecuteRequest`, a valid
`Idempotency-Key`) skips FastAPI's per-request machinery but goes through the same steps with the
route's own objects: the tenant dependency, the body and header fields' validation, the
response model's validation and JSON. Anything else (no body, invalid JSON, a field refused)
is handed to FastAPI's own handler, which answers it exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

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
from runtime.executions.service import Executions

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# The route's dependencies as declared below; the direct path calls the same tenant one.
TENANT = deps.tenant
DEPENDENCIES = frozenset({deps.executions, TENANT})


class ExecuteRoute(APIRoute):
    """FastAPI's route for `execute`, with a direct path for well-formed requests."""

    def get_route_handler(self) -> Handler:
        slow: Handler = super().get_route_handler()
        if not self.direct_path_fits():
            return slow  # a dependency or parameter this path does not know: FastAPI's own
        body_field, response_field = self.body_field, self.response_field
        header = self.dependant.header_params[0]
        assert body_field is not None and response_field is not None

        async def handler(request: Request) -> Response:
            raw = await request.body()  # kept on the request: the slow path reads it again
            if not raw or not is_json(request.headers.get("content-type")):
                return await slow(request)
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return await slow(request)
            key = request.headers.get(header.alias)
            body, body_errors = body_field.validate(data, {}, loc=("body",))
            _, header_errors = header.validate(key, {}, loc=("header", header.alias))
            if body_errors or header_errors or not isinstance(body, ExecuteRequest):
                return await slow(request)
            tenant = await TENANT(request)  # the route's dependency, as FastAPI calls it
            service: Executions = request.app.state.executions
            answer = await service.run(tenant, execution_request(body, key))
            value, errors = response_field.validate(answer, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer)
            return Response(
                content=response_field.serialize_json(value), media_type="application/json"
            )

        return handler

    def direct_path_fits(self) -> bool:
        """The route still has exactly what the direct path does: the executions and tenant
        dependencies, the one header, the body, no query, path or cookie parameters."""
        dependant = self.dependant
        calls = {d.call for d in dependant.dependencies}
        return (
            calls == DEPENDENCIES
            and [p.alias for p in dependant.header_params] == ["Idempotency-Key"]
            and not (dependant.query_params or dependant.path_params or dependant.cookie_params)
            and self.body_field is not None
            and self.response_field is not None
            and self.status_code in (None, 200)
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
