"""On SQLite, a synchronous execution's record exists before its answer: its first row is written
while the script runs (read here from the database file itself, with nothing flushed first)."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi.testclient import TestClient


def stored(api: TestClient, execution_id: str) -> Any:
    settings = api.app.state.executions.settings  # type: ignore[attr-defined]
    with sqlite3.connect(settings.data_dir / "terrarium.db") as db:
        return db.execute(
            "SELECT state FROM runtime_executions WHERE id = ?", (execution_id,)
        ).fetchone()


def test_an_answered_execution_has_its_record_in_the_database(api: TestClient) -> None:
    for _ in range(5):
        answer = api.post("/v1/execute", json={"code": "x = 1 + 1"})
        assert answer.status_code == 200, answer.text
        row = stored(api, answer.json()["execution_id"])
        assert row is not None and row[0] in ("running", "done")


def test_an_execution_answered_with_an_error_has_its_record_too(api: TestClient) -> None:
    answer = api.post("/v1/execute", json={"code": "1 / 0"})
    assert answer.status_code == 200 and answer.json()["status"] == "error", answer.text
    assert stored(api, answer.json()["execution_id"]) is not None
