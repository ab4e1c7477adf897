"""An execution's figures and its "execution finished" log line come in the loop's turn after
the one that makes its answer: the answer is written first (runtime/adapters/http/serving.py
writes an answer in the turn it is made), and the line still carries the request's id."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from runtime_settings import make_settings

from runtime.executions.request import ExecutionRequest
from runtime.executions.service import Executions
from runtime.infra import logs


def finished(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.getMessage() == "execution finished"]


async def test_the_figures_and_the_log_line_follow_the_answer(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service = Executions(make_settings(tmp_path, pool_warm=1))
    await service.start()
    lines = io.StringIO()  # formatted as they are logged, as the server's handler does
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("terrarium.executions")
    logger.addHandler(handler)
    try:
        assert service.default_tenant is not None
        caplog.set_level(logging.INFO, logger="terrarium.executions")
        token = logs.request_id.set("req_figures")
        try:
            body = await service.run(service.default_tenant, ExecutionRequest("x = 1 + 1"))
        finally:
            logs.request_id.reset(token)
        assert body["status"] == "ok"
        counted = service.metrics.render()
        assert finished(caplog) == []  # not yet: the answer is made first
        assert b'terrarium_executions_total{status="ok"}' not in counted
        await asyncio.sleep(0)
        [line] = finished(caplog)
        assert line.execution_id == body["execution_id"] and line.status == "ok"
        assert '"request_id": "req_figures"' in lines.getvalue().splitlines()[-1]
        assert b'terrarium_executions_total{status="ok"} 1.0' in service.metrics.render()
    finally:
        logger.removeHandler(handler)
        await service.stop()
