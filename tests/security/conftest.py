"""Shared fixtures for the attack corpus: one app (and one raw sandbox) for the whole suite.

Every payload asserts that its *effect* did not happen (a file not written, a listener not
connected to, a secret not in the response, a poisoned module not seen by the next execution),
not merely that the script failed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from security_helpers import Server

from runtime.app import create_app
from runtime.settings import Settings
from sandbox.selftest import RawSandbox


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("terrarium"),
        backend_speed=0,
        pool_warm=4,
        timeout_s=10,
        cpu_s=10,
        tenant_max_concurrent=64,
        tenant_per_minute=100_000,
    )
    with TestClient(create_app(settings)) as client:
        client.headers["authorization"] = f"Bearer {client.app.state.executions.default_key}"
        yield Server(client)


@pytest.fixture(scope="session")
def raw() -> Iterator[RawSandbox]:
    with RawSandbox(warm=2) as sandbox:
        yield sandbox
