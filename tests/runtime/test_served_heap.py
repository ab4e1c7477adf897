"""`terrarium serve` freezes the heap its app started with (full collections then walk only what
requests made since); an app that is not served (tests, MCP over stdio) leaves the heap alone."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.app import create_app


def test_a_served_app_freezes_its_started_heap_and_unfreezes_it_when_stopped(
    tmp_path: Path,
) -> None:
    app = create_app(make_settings(tmp_path))
    app.state.announce = "http://127.0.0.1:1"  # what `terrarium serve` sets
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0


def test_an_app_that_is_not_served_leaves_the_heap_alone(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        assert gc.get_freeze_count() == 0
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0
