"""An execution's figures and its "execution finished" log line wait for its answer at the door of
a `/v1` request: under `terrarium serve` the answer is written first, then the line (with the
request's id) and the figures, then the door's access line, in that order, before the request
ends. Without a door (an in-process caller) they are made before the run returns."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import uvicorn
from runtime_settings import make_settings
from transports import FakeTransport
from uvicorn.server import ServerState

from runtime.adapters.http.serving import OneSendProtocol
from runtime.app import create_app
from runtime.executions.request import ExecutionRequest
from runtime.executions.service import Executions
from runtime.infra import after_answer, logs

OK_COUNTED = b'terrarium_executions_total{status="ok"} 1.0'


class Seen(logging.Handler):
    """Each line as it is logged, with what had been written to the client and counted then."""

    def __init__(self, transport: FakeTransport, executions: Executions) -> None:
        super().__init__()
        self.transport, self.executions = transport, executions
        self.lines: list[tuple[str, dict[str, Any], bytes, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in ("terrarium.executions", "terrarium.access"):
            line = json.loads(logs.JsonFormatter().format(record))
            counted = OK_COUNTED in self.executions.metrics.render()
            self.lines.append((record.getMessage(), line, b"".join(self.transport.writes), counted))


async def test_the_answer_is_written_then_the_execution_line_then_the_access_line(
    tmp_path: Any,
) -> None:
    app = create_app(make_settings(tmp_path, pool_warm=1))
    async with app.router.lifespan_context(app):  # started and stopped in this test's task
        await answer_one(app)


async def answer_one(served: Any) -> None:
    """One `POST /v1/execute` through `terrarium serve`'s protocol on a recording transport."""
    executions: Executions = served.state.executions
    config = uvicorn.Config(served, http=OneSendProtocol, log_level="warning", lifespan="off")
    config.load()
    protocol = OneSendProtocol(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    seen = Seen(transport, executions)
    key = executions.default_key
    assert key is not None
    logger = logging.getLogger("terrarium")
    level = logger.level
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)
    try:
        body = b'{"code": "x = 1 + 1"}'
        protocol.data_received(
            b"POST /v1/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"x-request-id: req_figures\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        for _ in range(1000):  # until the access line (a bounded wait, not a timing)
            if any(message == "request" for message, *_ in seen.lines):
                break
            await asyncio.sleep(0.01)
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    mine = [entry for entry in seen.lines if entry[1].get("request_id") == "req_figures"]
    assert [message for message, *_ in mine] == ["execution finished", "request"], seen.lines
    (_, line, written, counted), (_, access, _, counted_at_access) = mine
    answer = written.partition(b"\r\n\r\n")[2]
    assert written.startswith(b"HTTP/1.1 200 OK") and json.loads(answer)["status"] == "ok"
    assert line["execution_id"] == json.loads(answer)["execution_id"]  # the answer came first
    assert counted and counted_at_access  # counted before the line, so before the access line
    assert access["status"] == 200


async def test_without_a_door_the_figures_and_line_are_made_before_the_run_returns(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service = Executions(make_settings(tmp_path, pool_warm=1))
    await service.start()
    try:
        assert service.default_tenant is not None
        caplog.set_level(logging.INFO, logger="terrarium.executions")
        token = logs.request_id.set("req_in_process")
        try:
            body = await service.run(service.default_tenant, ExecutionRequest("x = 1 + 1"))
        finally:
            logs.request_id.reset(token)
        [line] = [r for r in caplog.records if r.getMessage() == "execution finished"]
        fields = vars(line)
        assert fields["execution_id"] == body["execution_id"] and fields["status"] == "ok"
        assert OK_COUNTED in service.metrics.render()
    finally:
        await service.stop()


def test_work_deferred_once_the_door_ran_what_waited_runs_at_once() -> None:
    """A task the request started may outlive it: what it defers later is not held for good."""
    ran: list[str] = []
    after = after_answer.AfterAnswer()
    token = after_answer.waiting.set(after)
    try:
        after_answer.defer(lambda: ran.append("held"))
        assert ran == []
        after.run()
        after_answer.defer(lambda: ran.append("late"))
        assert ran == ["held", "late"]
    finally:
        after_answer.waiting.reset(token)
    after_answer.defer(lambda: ran.append("no door"))
    assert ran == ["held", "late", "no door"]
