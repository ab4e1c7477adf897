"""Retries, backoff and idempotency keys, against a mock transport."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest
from flora_mock import RUN, RUN_START, scripted

from client_surface import (
    APIConnectionError,
    APIConnectionTimeoutError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)
from client_surface._client import retry_after_seconds

WS = {"workspaces": []}
GEN_ARGS = dict(type="image", prompt="a fox", workspace_id="ws_1", project_id="prj_1")


def err(status: int, code: str = "x", headers: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": code}}, headers=headers or {}
    )


async def test_429_with_retry_after_is_retried_after_the_asked_delay(make_async, sleeps):
    rec = scripted(
        err(429, "rate_limited", {"retry-after": "7"}), httpx.Response(201, json=RUN_START)
    )
    run = await make_async(rec).generations.create(**GEN_ARGS)
    assert run.run_id == "run_1"
    assert len(rec.requests) == 2
    assert sleeps == [7.0]


async def test_429_without_retry_after_backs_off_exponentially_with_jitter(make_async, sleeps):
    rec = scripted(err(429), err(429), httpx.Response(201, json=RUN_START))
    await make_async(rec).generations.create(**GEN_ARGS)
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0


async def test_500_is_retried_max_retries_times_then_raised(make_async, sleeps):
    rec = scripted(err(500, "unknown_error"), err(500), err(503, "service_unavailable"))
    with pytest.raises(InternalServerError) as info:
        await make_async(rec).generations.create(**GEN_ARGS)
    assert info.value.status == 503
    assert len(rec.requests) == 3
    assert len(sleeps) == 2


async def test_400_is_never_retried(make_async, sleeps):
    rec = scripted(err(400, "input_validation_error"), httpx.Response(201, json=RUN_START))
    with pytest.raises(BadRequestError):
        await make_async(rec).generations.create(**GEN_ARGS)
    assert len(rec.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 402])
def test_other_4xx_are_never_retried(make_sync, sleeps, status):
    rec = scripted(err(status), httpx.Response(200, json={"workspaces": []}))
    with pytest.raises(Exception) as info:
        make_sync(rec).workspaces.list()
    assert info.value.status == status
    assert len(rec.requests) == 1


def test_408_is_retried(make_sync, sleeps):
    rec = scripted(err(408), httpx.Response(200, json={"workspaces": []}))
    make_sync(rec).workspaces.list()
    assert len(rec.requests) == 2


async def test_connection_error_is_retried_then_succeeds(make_async, sleeps):
    rec = scripted(httpx.ConnectError("refused"), httpx.Response(200, json={"workspaces": []}))
    result = await make_async(rec).workspaces.list()
    assert result.workspaces == []
    assert len(rec.requests) == 2 and len(sleeps) == 1


async def test_connection_error_after_all_retries_raises_api_connection_error(make_async):
    rec = scripted(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(APIConnectionError) as info:
        await make_async(rec).workspaces.list()
    assert not isinstance(info.value, APIConnectionTimeoutError)
    assert len(rec.requests) == 3


def test_timeout_raises_api_connection_timeout_error(make_sync):
    rec = scripted(*[httpx.ReadTimeout("slow")] * 3)
    with pytest.raises(APIConnectionTimeoutError):
        make_sync(rec).workspaces.list()


def test_max_retries_zero_sends_once(make_sync, sleeps):
    rec = scripted(err(500), httpx.Response(200, json={"workspaces": []}))
    with pytest.raises(InternalServerError):
        make_sync(rec, max_retries=0).workspaces.list()
    assert len(rec.requests) == 1 and sleeps == []


def test_rate_limit_error_raised_when_retries_run_out(make_sync):
    rec = scripted(err(429), err(429), err(429))
    with pytest.raises(RateLimitError):
        make_sync(rec).workspaces.list()


def test_retry_after_accepts_an_http_date():
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 17 <= retry_after_seconds(httpx.Headers({"retry-after": when})) <= 20.5


def test_retry_after_beyond_a_minute_falls_back_to_capped_backoff(make_sync, sleeps):
    rec = scripted(err(429, headers={"retry-after": "3600"}), httpx.Response(200, json=WS))
    make_sync(rec).workspaces.list()
    assert sleeps[0] <= 0.5


def test_backoff_is_capped_at_30_seconds(make_sync, sleeps):
    client = make_sync(scripted())
    assert client._retry_delay(10, None) <= 30.0
    assert client._retry_delay(10, None) >= 22.5


async def test_generation_idempotency_header_is_reused_across_retries(make_async):
    rec = scripted(err(500), err(429), httpx.Response(201, json=RUN_START))
    await make_async(rec).generations.create(**GEN_ARGS)
    keys = [r.headers.get("idempotency-key") for r in rec.requests]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1


async def test_each_generation_call_gets_a_fresh_idempotency_key(make_async):
    rec = scripted(httpx.Response(201, json=RUN_START), httpx.Response(201, json=RUN_START))
    client = make_async(rec)
    await client.generations.create(**GEN_ARGS)
    await client.generations.create(**GEN_ARGS)
    first, second = (r.headers["idempotency-key"] for r in rec.requests)
    assert first != second


def test_technique_run_body_idempotency_key_is_reused_across_retries(make_sync):
    rec = scripted(err(502), httpx.Response(200, json=RUN))
    make_sync(rec).techniques.runs.create("tech_1", inputs=[], mode="async")
    keys = [json.loads(r.content)["idempotency_key"] for r in rec.requests]
    assert keys[0] and keys[0] == keys[1]
    assert "idempotency-key" not in rec.requests[0].headers


def test_callers_own_idempotency_key_is_sent_unchanged(make_sync):
    rec = scripted(httpx.Response(200, json=RUN))
    make_sync(rec).techniques.runs.create(
        "tech_1", inputs=[], mode="async", idempotency_key="mine-1"
    )
    assert json.loads(rec.requests[0].content)["idempotency_key"] == "mine-1"


def test_reads_carry_no_idempotency_key(make_sync):
    rec = scripted(httpx.Response(200, json=RUN))
    make_sync(rec).generations.retrieve("run_1")
    assert "idempotency-key" not in rec.requests[0].headers
