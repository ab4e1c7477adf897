"""Fixtures for the MCP tests: a real `terrarium serve` on a free loopback port."""

from __future__ import annotations

import pytest
from served import ServedTerrarium, clean_env


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """`terrarium serve` in a subprocess: yields its base URL and the default tenant's key."""
    data_dir = tmp_path_factory.mktemp("mcp-http") / "data"
    with ServedTerrarium(clean_env(TERRARIUM_BACKEND_SPEED="0"), data_dir) as server:
        yield server.base, server.key
