"""The door's direct path and the whole app answer every `POST /v1/execute` alike: the same
status, body and headers (ids and timings aside) for keys that are missing, unknown or
malformed, idempotency keys, content types and encodings, bodies that are not the request's
shape, limits out of range, and scripts that fail. Each request is sent with the direct path
on, then with the app's state holding none, so it goes through FastAPI's router."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.adapters.http.execute import DIRECT_STATE
from runtime.app import create_app

VOLATILE = {"execution_id", "duration_ms", "cpu_ms", "created_at", "started_at", "finished_at",
            "request_id", "ms"}  # fmt: skip
VOLATILE_HEADERS = {"x-request-id", "date", "content-length", "retry-after"}


@pytest.fixture(scope="module")
def app_and_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestClient]]:
    app = create_app(make_settings(tmp_path_factory.mktemp("door-parity")))
    with TestClient(app) as client:
        auth = {"authorization": f"Bearer {app.state.executions.default_key}"}
        assert client.post("/v1/execute", json={"code": "1"}, headers=auth).status_code == 200
        assert getattr(app.state, DIRECT_STATE, None) is not None
        yield app, client


def _steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _answer(client: TestClient, headers: dict[str, str], body: bytes, query: str) -> Any:
    r = client.post("/v1/execute" + query, content=body, headers=headers)
    try:
        content: Any = _steady(r.json())
    except ValueError:
        content = r.content
    kept = {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}
    return r.status_code, content, kept


GOOD = json.dumps({"code": "6 * 7"}).encode()
CASES: list[tuple[str, dict[str, str] | None, bytes, str]] = [
    ("ok", None, GOOD, ""),
    ("no key", {}, GOOD, ""),
    ("unknown key", {"authorization": "Bearer trk_unknown"}, GOOD, ""),
    ("basic", {"authorization": "Basic dXNlcjpwYXNz"}, GOOD, ""),
    ("lower-case scheme", {"authorization": "bearer {key}"}, GOOD, ""),
    ("spaces", {"authorization": "Bearer   {key}  "}, GOOD, ""),
    ("idempotency key", {"idempotency-key": "k-parity-1"}, GOOD, ""),
    ("empty idempotency key", {"idempotency-key": ""}, GOOD, ""),
    ("long idempotency key", {"idempotency-key": "k" * 400}, GOOD, ""),
    ("query string", None, GOOD, "?x=1"),
    ("charset", {"content-type": "application/json; charset=utf-8"}, GOOD, ""),
    ("+json", {"content-type": "application/vnd.api+json"}, GOOD, ""),
    ("text/plain", {"content-type": "text/plain"}, GOOD, ""),
    ("utf-16", None, json.dumps({"code": "1"}).encode("utf-16"), ""),
    ("bom", None, b"\xef\xbb\xbf" + GOOD, ""),
    ("a list", None, b"[1, 2]", ""),
    ("null", None, b"null", ""),
    ("a string", None, b'"x"', ""),
    ("empty object", None, b"{}", ""),
    ("not json", None, b"{", ""),
    ("duplicate keys", None, b'{"code": "1", "code": "2"}', ""),
    ("nan", None, b'{"code": "1", "limits": {"timeout_s": NaN}}', ""),
    ("huge float", None, b'{"code": "1", "limits": {"timeout_s": 1e400}}', ""),
    ("string number", None, b'{"code": "1", "limits": {"timeout_s": "5"}}', ""),
    ("bool number", None, b'{"code": "1", "limits": {"timeout_s": true}}', ""),
    ("lone surrogate", None, b'{"code": "\\ud800"}', ""),
    ("code not a string", None, b'{"code": 1}', ""),
    ("limit above max", None, b'{"code": "1", "limits": {"timeout_s": 100000}}', ""),
    ("limit zero", None, b'{"code": "1", "limits": {"timeout_s": 0}}', ""),
    ("unknown field", None, b'{"code": "1", "extra": 1}', ""),
    ("empty code", None, b'{"code": ""}', ""),
    ("syntax error", None, b'{"code": "def ("}', ""),
    ("raises", None, b'{"code": "1 / 0"}', ""),
    ("unicode output", None, json.dumps({"code": "print('\u00e9\u2028')"}).encode(), ""),
    ("long intent", None, json.dumps({"code": "1", "intent": "i" * 5000}).encode(), ""),
]


# Taken by the direct path; the rest (a body the request model refuses, a content type the door
# refuses) the door hands to the whole app or refuses itself, either way as the app would.
DIRECT = {"ok", "no key", "unknown key", "basic", "lower-case scheme", "idempotency key",
          "charset", "empty code", "syntax error", "raises", "unicode output"}  # fmt: skip


@pytest.mark.parametrize(("name", "headers", "body", "query"), CASES, ids=[c[0] for c in CASES])
def test_the_direct_path_answers_as_the_whole_app(
    app_and_client: tuple[Any, TestClient],
    name: str,
    headers: dict[str, str] | None,
    body: bytes,
    query: str,
    routed: list[str],
) -> None:
    app, client = app_and_client
    key = app.state.executions.default_key
    sent = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if headers is not None:
        if not headers or "authorization" in headers:
            sent.pop("authorization")
        sent.update({k: v.replace("{key}", key) for k, v in headers.items()})
    if "idempotency-key" in sent and sent["idempotency-key"]:
        sent["idempotency-key"] += "-direct"  # each path its own key: no replay between them
    direct = getattr(app.state, DIRECT_STATE)
    first = _answer(client, sent, body, query)
    if name in DIRECT:
        assert routed == [], f"{name}: the door's direct path did not take it"
    setattr(app.state, DIRECT_STATE, None)
    try:
        if "idempotency-key" in sent and sent["idempotency-key"]:
            sent["idempotency-key"] = sent["idempotency-key"].replace("-direct", "-router")
        second = _answer(client, sent, body, query)
    finally:
        setattr(app.state, DIRECT_STATE, direct)
    if name in DIRECT:
        assert routed == ["/v1/execute"]  # the second went through the router
    assert first == second
