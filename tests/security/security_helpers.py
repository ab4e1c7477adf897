"""Helpers shared by the attack corpus (imported by conftest.py and the test modules)."""

from __future__ import annotations

import functools
import json
import os
import secrets
from typing import Any

from fastapi.testclient import TestClient

from sandbox.limits import Limits
from sandbox.result import ExecutionResult

# Set in the host's environment before any pool starts: no child may ever see it.
CANARY = f"canary-{secrets.token_hex(16)}"
os.environ["TERRARIUM_TEST_CANARY"] = CANARY


class Server:
    """The running app, plus direct access to its pool for custom host functions."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.executions = client.app.state.executions  # type: ignore[attr-defined]
        self.dev_key = self.executions.connections.dev_credentials[1]
        self.secrets = (CANARY, self.dev_key)

    def execute(self, code: str, **body: Any) -> dict[str, Any]:
        response = self.client.post("/v1/execute", json={"code": code, **body})
        assert response.status_code == 200, response.text
        data = response.json()
        self.assert_no_leak(data)
        return data

    def assert_no_leak(self, data: Any) -> None:
        text = json.dumps(data)
        for secret in self.secrets:
            assert secret not in text, "a host secret reached the response"

    def pool_execute(self, code: str, **kwargs: Any) -> ExecutionResult:
        """`WarmPool.execute` on the app's own loop (host_functions, limits, ...)."""
        call = functools.partial(self.executions.runner.pool.execute, code, **kwargs)
        return self.client.portal.call(call)  # type: ignore[union-attr]

    def healthy(self) -> None:
        marker = secrets.token_hex(8)
        body = self.execute(f"'{marker}'")
        assert body["status"] == "ok" and body["result"] == marker, body


RAW_LIMITS = Limits(timeout_s=10, cpu_s=5, memory_mb=128)


def denied(result: Any) -> bool:
    """A policy-level refusal or a runtime error: the script did not get an ok result."""
    return result["status"] in ("rejected", "error")


# Text that would only appear in a response if a script reached interpreter internals.
INTERNALS = (
    "' from '/",
    "(built-in)>",
    "<frame ",
    "<code object",
    "<cell ",
    "mappingproxy",
    "<built-in function system",
)


def assert_no_effect(body: dict[str, Any]) -> None:
    """The payload's escape marker is absent and no internal object was described."""
    text = json.dumps(body)
    assert "ESCAPED" not in json.dumps([body.get("result"), body.get("stdout")]), body
    for marker in INTERNALS:
        assert marker not in text, (marker, body)
