"""The FLORA client: ``AsyncFlora`` and its sync twin ``Flora``, built from the table."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import inspect
import json
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import httpx
from pydantic import BaseModel, ValidationError

from client_surface.errors import (
    APIConnectionError,
    APIConnectionTimeoutError,
    APIError,
    ArgumentError,
    FloraError,
    error_for_status,
)
from client_surface.pagination import AsyncPage, AsyncPageRequest, SyncPage
from client_surface.table import (
    METHODS,
    UPLOAD_MAX_BYTES,
    Method,
    check_arguments,
    check_path_value,
    find,
    suggest,
)

__all__ = ["AsyncFlora", "Flora", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://app.flora.ai/api/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({408, 429})
USER_AGENT = "terrarium-flora/0.1"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked for by a ``retry-after`` header (seconds or HTTP date), if any."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def should_retry(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


class InProcessRoute(Protocol):
    """A FLORA-compatible API in this process (the built-in backend's `in_process()`), called
    with a request's parts instead of its HTTP bytes: the method, the path (after the base URL)
    and its parameters, the query string, the JSON body, the headers (lower-case names). It
    answers (status, lower-case headers, body), as the HTTP response would be."""

    def __call__(
        self,
        method: Method,
        path: str,
        path_params: dict[str, str],
        query: bytes,
        body: bytes | None,
        headers: list[tuple[bytes, bytes]],
    ) -> Awaitable[tuple[int, Mapping[str, str], bytes]]: ...


def bind_arguments(method: Method, args: tuple[Any, ...], kwargs: dict[str, Any]) -> BaseModel:
    """Map positional arguments to names, then validate against the argument model."""
    if len(args) > len(method.positional):
        allowed = ", ".join(method.positional) or "none"
        raise ArgumentError(
            f"{method.full_name}() takes {len(method.positional)} positional argument(s) "
            f"({allowed}) but {len(args)} were given; pass the others by keyword.",
            "Pass arguments by keyword, e.g. " + (method.example or method.full_name + "(...)"),
        )
    merged = dict(kwargs)
    for name, value in zip(method.positional, args, strict=False):
        if name in merged:
            raise ArgumentError(f"{method.full_name}() got multiple values for argument {name!r}.")
        merged[name] = value
    return check_arguments(method, merged)


# ---------------------------------------------------------------- assets.upload

UPLOAD_POLL_INTERVAL_S = 1.0  # FLORA's helper: pollIntervalMs 1000
UPLOAD_POLL_TIMEOUT_S = 120.0  # FLORA's helper: pollTimeoutMs 120000
_HTTP_URL = re.compile(r"^https?://", re.IGNORECASE)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[\w.-]+)*;base64,", re.IGNORECASE)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def upload_source(file: str | bytes, max_bytes: int = UPLOAD_MAX_BYTES) -> str | bytes:
    """What `assets.upload` sends: the URL FLORA fetches (a str), or the file's bytes decoded
    from base64 text or a data: URL. ArgumentError, before any request, for text that is neither
    or bytes over `max_bytes` (saying to pass a URL instead)."""
    if isinstance(file, bytes | bytearray):
        data = bytes(file)
    elif _HTTP_URL.match(file):
        return file
    else:
        data = _decode_base64(_DATA_URL.sub("", file.strip(), count=1))
    if not data:
        raise ArgumentError("assets.upload(): `file` is empty.")
    if len(data) > max_bytes:
        raise ArgumentError(
            f"assets.upload(): `file` is {len(data):,} bytes, over the {max_bytes:,}-byte limit "
            "for bytes sent in a call; pass a public https URL as `file` instead (FLORA fetches "
            "up to 50 MB).",
            'Host the file and pass its URL: client.assets.upload("https://...", workspace_id=...)',
        )
    return data


def _decode_base64(text: str) -> bytes:
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact.encode("ascii"))
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ArgumentError(
            f"assets.upload(): `file` is neither an http(s) URL nor base64 text "
            f"(it starts {text[:20]!r}).",
            "Pass base64.b64encode(data).decode(), a data: URL, or a public https URL.",
        ) from None


def content_type_of(data: bytes, given: str | None, file: str | bytes) -> str | None:
    """The content type to declare: the one given, a data: URL's, or read from the bytes."""
    if given:
        return given
    if isinstance(file, str):
        found = _DATA_URL.match(file.strip())
        if found and found.group(1):
            return found.group(1).lower()
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _upload_failed(asset_id: str, response: httpx.Response) -> APIError:
    return APIError(
        f"assets.upload: uploading the bytes of {asset_id} failed with HTTP "
        f"{response.status_code}: {response.text[:300]}",
        status=response.status_code,
        code="upload_failed",
    )


def _not_ready(asset_id: str, asset: BaseModel, waited: float) -> APIError:
    status = getattr(asset, "status", None)
    if status == "failed":
        reason = getattr(asset, "failure_message", None)
        return APIError(
            f"assets.upload: asset {asset_id} failed to process"
            + (f": {reason}" if reason else ""),
            code="asset_failed",
        )
    return APIError(
        f"assets.upload: asset {asset_id} was not ready after {waited:g} s (last status: "
        f"{status}); read it later with assets.retrieve.",
        code="asset_timeout",
    )


def _upload_request(
    http: httpx.Client | httpx.AsyncClient,
    reservation: BaseModel,
    data: bytes,
    content_type: str | None,
    name: str | None,
) -> httpx.Request:
    """The request that carries the bytes of a signed upload: the presigned form POST when FLORA
    gives one, else a PUT to `upload_url`. Never with the API key."""
    form = getattr(reservation, "upload", None)
    if form is not None:
        return http.build_request(
            form.method,
            form.url,
            data=dict(form.form_fields),
            files={
                form.file_field: (name or "file", data, content_type or "application/octet-stream")
            },
        )
    url = getattr(reservation, "upload_url", None)
    if not url:
        raise APIError(
            f"assets.upload: asset {reservation.asset_id} came without an upload URL.",  # type: ignore[attr-defined]
            code="upload_failed",
        )
    headers = {"Content-Type": content_type} if content_type else {}
    return http.build_request("PUT", url, content=data, headers=headers)


def _endpoint(name: str) -> Method:
    method = find(name)
    assert method is not None and not method.helper, name
    return method


UPLOAD_POLLS = int(UPLOAD_POLL_TIMEOUT_S / UPLOAD_POLL_INTERVAL_S)


def _create_arguments(
    args: BaseModel, source: str | bytes, content_type: str | None
) -> dict[str, Any]:
    """assets.create's arguments for an upload: the URL as `source`, or a signed upload."""
    given = args.model_dump(exclude_none=True, exclude={"file"})
    if isinstance(source, str):
        given.setdefault("file_name", source.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or None)
        return {k: v for k, v in {**given, "source": source}.items() if v is not None}
    if content_type:
        given["content_type"] = content_type
    return {**given, "source": "signed-url"}


class _Resource:
    """A namespace of client methods, such as ``client.techniques.runs``."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        public = [k for k in vars(self) if not k.startswith("_")]
        guess = suggest(name, public)
        text = f"{self._path}.{name} is not a method."
        if guess:
            text += f" Did you mean {self._path}.{guess}?"
        else:
            text += " Available: " + ", ".join(sorted(public)) + "."
        raise AttributeError(text)

    def __repr__(self) -> str:
        return f"<{self._path}>"


def _signature(method: Method) -> inspect.Signature:
    params = []
    for name, field in method.args.model_fields.items():
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if name in method.positional
            else inspect.Parameter.KEYWORD_ONLY
        )
        default = inspect.Parameter.empty if field.is_required() else field.default
        params.append(inspect.Parameter(name, kind, default=default, annotation=field.annotation))
    params.sort(key=lambda p: p.kind)
    return inspect.Signature(params)


class _BaseClient:
    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        api_key = api_key or os.environ.get("FLORA_API_KEY")
        if not api_key:
            raise FloraError(
                "No FLORA API key: pass api_key=... or set the FLORA_API_KEY environment variable."
            )
        self._api_key = api_key
        self.base_url = (base_url or os.environ.get("FLORA_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.timeout = timeout
        self.max_retries = max_retries
        self._default_headers = dict(default_headers or {})
        self._random: Callable[[], float] = random.random
        self.upload_max_bytes = UPLOAD_MAX_BYTES  # assets.upload's bytes, at most

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _build_resources(self, make: Callable[[Method], Callable[..., Any]]) -> None:
        for method in METHODS:
            node: Any = self
            path = "client"
            for part in method.resource.split("."):
                path += "." + part
                child = vars(node).get(part)
                if child is None:
                    child = _Resource(path)
                    setattr(node, part, child)
                node = child
            fn = make(method)
            fn.__name__ = method.name
            fn.__qualname__ = f"{path}.{method.name}"
            fn.__doc__ = method.summary + (" (deprecated)" if method.deprecated else "")
            fn.__signature__ = _signature(method)  # type: ignore[attr-defined]
            setattr(node, method.name, fn)
            camel = method.camel_name.rsplit(".", 1)[-1]
            if camel != method.name:
                setattr(node, camel, fn)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        roots = sorted({m.resource.split(".")[0] for m in METHODS})
        guess = suggest(name, roots)
        text = f"client.{name} does not exist."
        text += f" Did you mean client.{guess}?" if guess else " Available: " + ", ".join(roots)
        raise AttributeError(text)

    # -- request building -------------------------------------------------------

    @staticmethod
    def _idempotency_key(method: Method) -> str | None:
        return f"idem_{uuid.uuid4().hex}" if method.idempotency else None

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self._default_headers,
        }

    def _request_parts(self, method: Method, args: BaseModel, key: str | None) -> _Parts:
        """What an HTTP request carries, before httpx encodes it (an in-process request takes
        `_request_data` and makes its headers in `AsyncFlora._exchange`)."""
        path, path_params, params, body = self._request_data(method, args, key)
        headers = self._headers()
        if method.idempotency == "header" and key:
            headers["Idempotency-Key"] = key
        return path, path_params, params, body, headers

    @staticmethod
    def _request_data(
        method: Method, args: BaseModel, key: str | None
    ) -> tuple[str, dict[str, str], dict[str, Any] | None, dict[str, Any] | None]:
        """A request's path, path parameters, query parameters and JSON body (no headers)."""
        # `args.model_dump(mode="json", exclude_none=True)`, without its Python wrapper
        data = type(args).__pydantic_serializer__.to_python(args, mode="json", exclude_none=True)
        path = method.path
        path_params: dict[str, str] = {}
        for name in method.path_params:
            # Checked again here, whoever built `args`; then percent-encoded all the same.
            value = check_path_value(method.full_name, name, data.pop(name))
            path_params[name] = value
            path = path.replace("{" + name + "}", quote(value, safe=""))
        params: dict[str, Any] | None = None
        body: dict[str, Any] | None = None
        if method.verb == "GET":
            params = {k: _query_value(v) for k, v in data.items()}
        else:
            body = data
            if method.idempotency == "body" and key and not body.get("idempotency_key"):
                body["idempotency_key"] = key
        return path, path_params, params, body

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: Method,
        args: BaseModel,
        key: str | None,
    ) -> httpx.Request:
        path, _, params, body, headers = self._request_parts(method, args, key)
        return http.build_request(
            method.verb,
            self.base_url + path,
            params=params,
            json=body,
            headers=headers,
            timeout=self.timeout,
        )

    def _retry_delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        asked = retry_after_seconds(headers)
        if asked is not None and asked <= MAX_RETRY_AFTER:
            return asked
        delay = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
        return delay * (1 - 0.25 * self._random())

    @staticmethod
    def _parse(method: Method, response: httpx.Response) -> BaseModel:
        return _BaseClient._parse_answer(
            method, response.status_code, response.headers, response.content
        )

    @staticmethod
    def _parse_answer(
        method: Method, status: int, raw_headers: Mapping[str, str], content: bytes
    ) -> BaseModel:
        if content and (len(content) < _LONG_DIGITS or _DIGIT_RUN not in content.translate(_ZEROS)):
            # One pass over the bytes (pydantic's own JSON parser, the same lax rules as for
            # the parsed document); anything it refuses is parsed again below, as before, so
            # the answer or the error is the standard library's. Not for bytes with a run of
            # 309 digits: an integer that large is infinity to that parser in a float field,
            # which refuses the int json.loads makes of it.
            try:  # `model_validate_json(content)`, without its Python wrapper
                answer: BaseModel = method.response.__pydantic_validator__.validate_json(content)
                return answer
            except ValidationError:
                pass
        headers = {k.lower(): v for k, v in raw_headers.items()}
        try:
            data = json.loads(content) if content else {}
        except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep, too many digits
            raise APIError(
                f"{method.full_name}: the API answered {status} with a body that is not JSON.",
                status=status,
                code="invalid_response",
                request_id=headers.get("request-id"),
                headers=headers,
            ) from None
        try:
            return method.response.model_validate(data)
        except ValidationError as exc:
            raise APIError(
                f"{method.full_name}: the API response did not have the expected shape "
                f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}).",
                status=status,
                code="invalid_response",
                request_id=headers.get("request-id"),
                headers=headers,
            ) from None

    @staticmethod
    def _status_error(response: httpx.Response) -> APIError:
        return error_for_status(response.status_code, response.content, response.headers)

    @staticmethod
    def _connection_error(exc: Exception) -> APIConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            return APIConnectionTimeoutError(f"Request to the FLORA API timed out ({exc}).")
        return APIConnectionError(
            f"Could not reach the FLORA API: {type(exc).__name__}: {exc}".rstrip(": ")
        )


# (path after the base URL, path parameters, query parameters, JSON body, headers)
_Parts = tuple[
    str, dict[str, str], "dict[str, Any] | None", "dict[str, Any] | None", dict[str, str]
]


# `_parse_answer`: the bytes with every digit made b"0" and every other byte b"x", so that one
# `in` finds a run of `_LONG_DIGITS` digits (an integer of 1e308 or more).
_ZEROS = bytes(48 if 48 <= b <= 57 else 120 for b in range(256))
_LONG_DIGITS = 309
_DIGIT_RUN = b"0" * _LONG_DIGITS


def _in_process_headers(headers: dict[str, str], body: bytes | None) -> list[tuple[bytes, bytes]]:
    """The headers an HTTP request would carry, as ASGI has them (lower-case names)."""
    out = [(k.lower().encode("ascii"), v.encode("ascii")) for k, v in headers.items()]
    return _add_body_headers(out, body)


def _add_body_headers(
    out: list[tuple[bytes, bytes]], body: bytes | None
) -> list[tuple[bytes, bytes]]:
    if body is not None:
        out.append((b"content-length", str(len(body)).encode("ascii")))
        out.append((b"content-type", b"application/json"))
    return out


def _json_body(body: dict[str, Any]) -> bytes:
    """A JSON body's bytes, encoded as httpx encodes `json=`."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# The characters `urllib.parse.quote_plus` never escapes: a text made only of them is its own
# query-string form.
_QUERY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _query_text(value: Any) -> str:
    """A query value as httpx makes it text: JSON-style booleans, None as empty."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _query_quote(text: str) -> str:
    return text if _QUERY_SAFE.issuperset(text) else quote_plus(text)


def query_string(params: Mapping[str, Any]) -> bytes:
    """``str(httpx.QueryParams(params)).encode("ascii")``, the query an HTTP request carries,
    without building httpx's multi-dict: each value (each item of a list or tuple) as text,
    ``quote_plus``-escaped unless it needs no escape."""
    parts = []
    for key, value in params.items():
        name = _query_quote(str(key))
        for item in value if isinstance(value, list | tuple) else (value,):
            parts.append(name + "=" + _query_quote(_query_text(item)))
    return "&".join(parts).encode("ascii")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


class AsyncFlora(_BaseClient):
    """Async FLORA client: ``await client.generations.create(...)``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: dict[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        in_process: InProcessRoute | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)
        self._sleep = sleep or asyncio.sleep
        # The table's requests to an API in this process skip HTTP (`InProcessRoute`); other
        # requests (an upload's bytes) still go through `_http`.
        self._in_process = in_process
        # `_headers()` as ASGI has them, encoded at the first in-process request: the key and
        # the default headers are the client's for its life; a request adds its idempotency key
        # and body headers.
        self._in_process_base: list[tuple[bytes, bytes]] | None = None
        self._build_resources(self._make_method)

    def _make_method(self, method: Method) -> Callable[..., Any]:
        if method.paged:

            def list_method(*args: Any, **kwargs: Any) -> AsyncPageRequest:
                validated = bind_arguments(method, args, kwargs)
                return AsyncPageRequest(lambda: self._fetch_page(method, validated))

            return list_method

        async def call(*args: Any, **kwargs: Any) -> BaseModel:
            return await self._request(method, bind_arguments(method, args, kwargs))

        return call

    async def _fetch_page(self, method: Method, args: BaseModel) -> AsyncPage:
        response = await self._request(method, args)
        return AsyncPage(method, args, response, self._fetch_page)

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        method = _endpoint(name)
        return await self._request(method, check_arguments(method, arguments))

    async def _assets_upload(self, args: BaseModel) -> BaseModel:
        """FLORA's `assets.upload`: a URL is fetched by FLORA; bytes are reserved a signed upload,
        sent there, completed; then the asset is polled until ready (bounded)."""
        file = args.file  # type: ignore[attr-defined]
        source = upload_source(file, self.upload_max_bytes)
        kind = None if isinstance(source, str) else content_type_of(source, args.content_type, file)  # type: ignore[attr-defined]
        created = await self._call("assets.create", _create_arguments(args, source, kind))
        asset_id: str = created.asset_id
        if isinstance(source, bytes):
            request = _upload_request(self._http, created, source, kind, args.file_name)  # type: ignore[attr-defined]
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise self._connection_error(exc) from None
            if not response.is_success:
                raise _upload_failed(asset_id, response)
            await self._call("assets.complete", {"asset_id": asset_id})
        for poll in range(UPLOAD_POLLS + 1):
            asset = await self._call("assets.retrieve", {"asset_id": asset_id})
            if asset.status == "ready":
                return asset  # type: ignore[no-any-return]
            if asset.status == "failed" or poll == UPLOAD_POLLS:
                raise _not_ready(asset_id, asset, poll * UPLOAD_POLL_INTERVAL_S)
            await self._sleep(UPLOAD_POLL_INTERVAL_S)
        raise AssertionError("unreachable")

    async def _request(self, method: Method, args: BaseModel) -> BaseModel:
        """Send one logical request (retried on 408/429/5xx/connection errors); a helper runs
        its steps."""
        if method.helper:
            return await self._assets_upload(args)
        key = self._idempotency_key(method)
        attempt = 0
        while True:
            try:
                status, headers, content = await self._exchange(method, args, key)
            except httpx.TransportError as exc:
                if attempt < self.max_retries:
                    await self._sleep(self._retry_delay(attempt, None))
                    attempt += 1
                    continue
                raise self._connection_error(exc) from None
            if 200 <= status < 300:
                return self._parse_answer(method, status, headers, content)
            if should_retry(status) and attempt < self.max_retries:
                await self._sleep(self._retry_delay(attempt, headers))
                attempt += 1
                continue
            raise error_for_status(status, content, headers)

    async def _exchange(
        self, method: Method, args: BaseModel, key: str | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One attempt: (status, headers, body), over HTTP or in-process."""
        if self._in_process is None:
            request = self._build_request(self._http, method, args, key)
            response = await self._http.send(request)
            return response.status_code, response.headers, response.content
        path, path_params, params, body = self._request_data(method, args, key)
        query = query_string(params) if params else b""
        raw = _json_body(body) if body is not None else None
        if method.idempotency == "header" and key:
            headers = self._headers()
            headers["Idempotency-Key"] = key
            raw_headers = _in_process_headers(headers, raw)
        else:  # `_headers()`, encoded once
            base = self._in_process_base
            if base is None:
                base = self._in_process_base = _in_process_headers(self._headers(), None)
            raw_headers = _add_body_headers(list(base), raw)
        return await self._in_process(method, path, path_params, query, raw, raw_headers)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncFlora:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Flora(_BaseClient):
    """Sync FLORA client: ``client.generations.create(...)``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        default_headers: dict[str, str] | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)
        self._sleep = sleep or time.sleep
        self._build_resources(self._make_method)

    def _make_method(self, method: Method) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            validated = bind_arguments(method, args, kwargs)
            if method.paged:
                return self._fetch_page(method, validated)
            return self._request(method, validated)

        return call

    def _fetch_page(self, method: Method, args: BaseModel) -> SyncPage:
        return SyncPage(method, args, self._request(method, args), self._fetch_page)

    def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        method = _endpoint(name)
        return self._request(method, check_arguments(method, arguments))

    def _assets_upload(self, args: BaseModel) -> BaseModel:
        """FLORA's `assets.upload`, as AsyncFlora's."""
        file = args.file  # type: ignore[attr-defined]
        source = upload_source(file, self.upload_max_bytes)
        kind = None if isinstance(source, str) else content_type_of(source, args.content_type, file)  # type: ignore[attr-defined]
        created = self._call("assets.create", _create_arguments(args, source, kind))
        asset_id: str = created.asset_id
        if isinstance(source, bytes):
            request = _upload_request(self._http, created, source, kind, args.file_name)  # type: ignore[attr-defined]
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                raise self._connection_error(exc) from None
            if not response.is_success:
                raise _upload_failed(asset_id, response)
            self._call("assets.complete", {"asset_id": asset_id})
        for poll in range(UPLOAD_POLLS + 1):
            asset = self._call("assets.retrieve", {"asset_id": asset_id})
            if asset.status == "ready":
                return asset  # type: ignore[no-any-return]
            if asset.status == "failed" or poll == UPLOAD_POLLS:
                raise _not_ready(asset_id, asset, poll * UPLOAD_POLL_INTERVAL_S)
            self._sleep(UPLOAD_POLL_INTERVAL_S)
        raise AssertionError("unreachable")

    def _request(self, method: Method, args: BaseModel) -> BaseModel:
        """Send one logical request (retried on 408/429/5xx/connection errors); a helper runs
        its steps."""
        if method.helper:
            return self._assets_upload(args)
        key = self._idempotency_key(method)
        attempt = 0
        while True:
            request = self._build_request(self._http, method, args, key)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if attempt < self.max_retries:
                    self._sleep(self._retry_delay(attempt, None))
                    attempt += 1
                    continue
                raise self._connection_error(exc) from None
            if response.is_success:
                return self._parse(method, response)
            if should_retry(response.status_code) and attempt < self.max_retries:
                response.close()
                self._sleep(self._retry_delay(attempt, response.headers))
                attempt += 1
                continue
            raise self._status_error(response)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Flora:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
