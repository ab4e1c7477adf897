"""Fixtures for client_surface tests: clients on a mock transport that never sleep."""

from __future__ import annotations

import httpx
import pytest
from flora_mock import API_KEY, Recorder, Sleeps

from client_surface import AsyncFlora, Flora


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_async(sleeps: Sleeps):
    def make(recorder: Recorder, **kw) -> AsyncFlora:
        return AsyncFlora(
            API_KEY,
            base_url="https://flora.test/api/v1",
            transport=httpx.MockTransport(recorder),
            sleep=sleeps.async_sleep,
            **kw,
        )

    return make


@pytest.fixture
def make_sync(sleeps: Sleeps):
    def make(recorder: Recorder, **kw) -> Flora:
        return Flora(
            API_KEY,
            base_url="https://flora.test/api/v1",
            transport=httpx.MockTransport(recorder),
            sleep=sleeps.sync_sleep,
            **kw,
        )

    return make
