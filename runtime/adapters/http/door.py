"""At the door: what every HTTP request meets before a router, and what is noted after it.

`Door` is one ASGI middleware around the app. For `/v1` and `/mcp` requests (the path the
router matches: under a mount or a server's root path, the path after it) it
- gives the request an id: the caller's `x-request-id` when it is well-formed (at most 128
  letters, digits and `._:-`), else a new one; it is echoed on every response, refusals and
  authentication failures included, and set for the log lines the request causes;
- refuses a body over `max_body_bytes` with 413 naming TERRARIUM_MAX_BODY_BYTES: on its
  `Content-Length` before a byte is read, and, for a chunked body, as soon as the bytes
  received pass the limit (the body is never read whole first);
- refuses a body that does not say it is JSON with 415 naming `application/json`. A body
  is accepted only as `application/json` (or `+json`): a browser may send text/plain, form or
  untyped bodies cross-origin without asking first (no CORS preflight), and with
  TERRARIUM_AUTH=off such a request would run code as the default tenant;
- writes one access log line (JSON, the runtime's log format) and counts the request in the
  HTTP metrics (route, method, status; 4xx by reason, the error code; per tenant), once the
  answer is sent and, for a `/v1` request, after what its execution deferred until then (its
  figures and "execution finished" line: runtime/infra/after_answer.py).

A `POST /v1/execute` whose body it read (with no root path, where the path is the route's) is
offered to the route's direct path (`direct`, from execute.py) before the rest of the app: an
error it raises is answered by the app's own exception handlers (those the exception middleware
holds; a handler that answers nothing sends nothing, and the request is not handed on), and a
request it does not take goes on through the whole app with the same body.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from runtime.adapters.errors import INTERNAL, ErrorReport, report
from runtime.errors import BodyTooLarge, UnsupportedMediaType
from runtime.infra import after_answer, logs
from runtime.infra.metrics import Metrics
from runtime.settings import Settings

access_log = logging.getLogger("terrarium.access")
log = logging.getLogger("terrarium.http")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REASON_BYTES = 8192  # of a 4xx body, read for its error code
# The routes that take a body, as labels for what is refused before any route is matched.
_BODY_ROUTES = frozenset({"/v1/execute", "/v1/executions", "/mcp"})


def route_path(scope: Scope) -> str:
    """The path the app's router matches: without the root path the app is served under (a
    mount, a server's `--root-path`), which the server may leave at the path's start."""
    path: str = scope["path"]
    root = scope.get("root_path") or ""
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def guarded(path: str) -> bool:
    """The runtime's own API: `/v1` and `/mcp` (the built-in backend at `/api` has its own)."""
    return path == "/v1" or path.startswith("/v1/") or path == "/mcp" or path.startswith("/mcp/")


# A new request id: `req_` and 24 hexadecimal digits, a part drawn at random once per process
# and a count, so ids differ without a draw from the OS's generator per request (an id names a
# request in logs; it is not a secret).
_ID_PREFIX = "req_" + secrets.token_hex(6)
_id_numbers = itertools.count()


def request_id(scope: Scope) -> str:
    """The caller's `x-request-id` when it is well-formed, else a new one."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _WELL_FORMED_ID.fullmatch(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_id_numbers) % 16**12:012x}"


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    return _is_json(content_type)


@functools.lru_cache(maxsize=64)  # a client sends the same few values again and again
def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def too_large(cap: int, size: int | None = None) -> BodyTooLarge:
    size_text = f"is {size} bytes" if size is not None else "passed"
    return BodyTooLarge(
        f"the request body {size_text}, over the {cap}-byte limit (TERRARIUM_MAX_BODY_BYTES)",
        "body",
    )


def unsupported(content_type: str | None) -> UnsupportedMediaType:
    said = f"says {content_type[:100]!r}" if content_type else "has no Content-Type"
    return UnsupportedMediaType(
        f"the request body {said}; send JSON with `Content-Type: application/json`", "body"
    )


class _Refused(Exception):
    def __init__(self, error: ErrorReport) -> None:
        self.error = error


# A route and its direct path: the request and its whole body to a response, or None when the
# path does not take the request (execute.py).
DirectPath = tuple[Any, Callable[[Request, bytes], Awaitable[Any]]]
DIRECT_PATH = "/v1/execute"


class Door:
    def __init__(
        self, app: ASGIApp, settings: Settings, metrics: Metrics,
        direct: Callable[[Any], DirectPath | None] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(route_path(scope)):
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        token = logs.request_id.set(rid)
        # An execution's figures and line wait for the answer (not /mcp: its tools log their
        # own line after the execution's, and its answers may be streamed).
        after = None if route_path(scope).startswith("/mcp") else after_answer.AfterAnswer()
        after_token = after_answer.waiting.set(after)
        started = time.perf_counter()
        status, reason_body = 500, bytearray()

        async def send_noted(message: AsgiMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or ())
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and 400 <= status < 500:
                if len(reason_body) < _REASON_BYTES:
                    reason_body.extend(message.get("body", b"")[:_REASON_BYTES])
            await send(message)

        responded = False

        async def send_tracked(message: AsgiMessage) -> None:
            nonlocal responded
            responded = True
            await send_noted(message)

        try:
            try:
                receive, body = await self._admit(scope, receive)
            except _Refused as refused:
                await _answer(send_tracked, refused.error, close=refused.error.status == 413)
                return
            try:
                if body is not None and scope["path"] == DIRECT_PATH:
                    if await self._directly(scope, body, receive, send_tracked):
                        return
                await self.app(scope, receive, send_tracked)
            except Exception:
                if responded:
                    raise
                log.exception("request failed", extra={"path": scope["path"]})
                await _answer(send_tracked, INTERNAL)
        finally:
            seconds = time.perf_counter() - started
            if after is not None:  # the answer is sent: what waited for it, then the access line
                after.run()
            self._note(scope, status, bytes(reason_body), seconds, rid)
            after_answer.waiting.reset(after_token)
            logs.request_id.reset(token)

    async def _directly(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """Answer a `POST /v1/execute` by the route's direct path; False when it does not take
        the request (nothing was sent, the body is still to be received)."""
        found = self.direct(scope.get("app")) if self.direct is not None else None
        if (
            found is None
            or scope["method"] != "POST"
            or scope.get("fastapi.telemetry") is not None  # the router names the route there
            or scope.get("root_path")  # the router matches the path without it: not this route
            or not isinstance(self.app, ExceptionMiddleware)
        ):
            return False
        route, direct = found
        if getattr(route, "path", None) != DIRECT_PATH:
            return False
        scope["route"] = route  # as the router sets them: the access log's route label
        scope["endpoint"] = route.endpoint
        scope.setdefault("path_params", {})
        request = Request(scope, receive, send)
        try:
            response = await direct(request, body)
        except Exception as exc:  # answered as the exception middleware answers it
            handler = _handler_for(self.app, exc)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:  # as Starlette runs a plain function: on a worker thread
                response = await run_in_threadpool(handler, request, exc)
                if inspect.isawaitable(response):
                    response = await response
            exc.__traceback__ = None
            # Taken: a handler that answers nothing sends nothing, as Starlette's; the request
            # is never handed on (its execution would run again).
            if response is not None:
                await response(scope, receive, send)
            return True
        if response is None:
            return False
        await response(scope, receive, send)
        return True

    async def _admit(self, scope: Scope, receive: Receive) -> tuple[Receive, bytes | None]:
        """The request's `receive`, its body read within the cap (and the body, when read);
        or `_Refused`."""
        if scope["method"] not in _BODY_METHODS:
            return receive, None
        cap = self.settings.max_body_bytes
        length = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        if length is not None and length.strip().isdigit():
            if int(length) > cap:
                raise _Refused(report(too_large(cap, int(length))))
            if int(length) == 0 and not chunked:
                return receive, None
        elif not chunked:
            return receive, None  # no body
        content_type = _header(scope, b"content-type")
        if not is_json(content_type):
            raise _Refused(report(unsupported(content_type)))
        messages: list[AsgiMessage] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the app reads that too
            size += len(message.get("body", b""))
            if size > cap:
                raise _Refused(report(too_large(cap)))
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        replay: list[AsgiMessage] = [{"type": "http.request", "body": body, "more_body": False}]
        replay.extend(m for m in messages if m["type"] != "http.request")

        async def replayed() -> AsgiMessage:
            return replay.pop(0) if replay else await receive()

        ended = any(m["type"] != "http.request" for m in messages)
        return replayed, None if ended else body

    def _note(self, scope: Scope, status: int, body: bytes, seconds: float, rid: str) -> None:
        """The access log line and the HTTP metrics; never a reason for a request to fail."""
        try:
            route_obj: Any = scope.get("route")
            route = getattr(route_obj, "path", None)
            if not isinstance(route, str):
                path = route_path(scope).rstrip("/") or "/"
                route = path if path in _BODY_ROUTES else "unmatched"
            state = scope.get("state") or {}
            tenant_obj = state.get("tenant")
            tenant = getattr(tenant_obj, "name", None)
            reason = _reason(body) if 400 <= status < 500 else None
            method = str(scope["method"])
            self.metrics.observe_http(route, method, status, seconds, reason, tenant)
            if not access_log.isEnabledFor(logging.INFO):
                return
            extra: dict[str, Any] = {
                "request_id": rid, "method": method, "path": _masked(scope["path"]),
                "route": route,
                "status": status, "duration_ms": round(seconds * 1000, 3), "tenant": tenant,
            }  # fmt: skip
            if reason:
                extra["reason"] = reason
            access_log.info("request", extra=extra)
        except Exception:  # noqa: BLE001 - figures and a log line only
            log.exception("access log failed")


def _handler_for(app: ExceptionMiddleware, exc: Exception) -> Any:
    """The handler the exception middleware would answer `exc` with, or None (then it is not
    answered there either: it goes on to the door's own last resort)."""
    handler = None
    if isinstance(exc, HTTPException):
        handler = app._status_handlers.get(exc.status_code)
    if handler is None:
        for kind in type(exc).__mro__:
            if kind in app._exception_handlers:
                return app._exception_handlers[kind]
    return handler


_WHOLE_KEY = re.compile(r"(trk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+")


def _masked(path: str) -> str:
    """The path as logged: a whole runtime key in it (an admin route given the key instead of
    its id) is cut to the prefix listings show, so the log never holds a secret."""
    return _WHOLE_KEY.sub(r"\1…", path) if "trk_" in path else path


def _reason(body: bytes) -> str:
    """A 4xx answer's error code (the envelope's `error.code`), or `other`."""
    try:
        code = json.loads(body)["error"]["code"]
    except Exception:  # noqa: BLE001 - not our envelope (cut short, or another app's)
        return "other"
    return str(code)[:64] if isinstance(code, str) else "other"


async def _answer(send: Send, error: ErrorReport, close: bool = False) -> None:
    body = json.dumps(error.envelope()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:  # the rest of the body is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
