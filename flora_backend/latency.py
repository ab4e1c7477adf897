"""A per-request latency for the built-in backend, so offline runs feel like FLORA's network.

`TERRARIUM_BACKEND_LATENCY_MS` (0 by default: answer at once) delays every HTTP request by that
many milliseconds before it is handled, as the round trip to FLORA (100 to 500 ms per call) would.
It lets a user simulating FLORA offline see what a script costs against the real API, and keeps
the benchmark honest: twenty `generations.retrieve` in one `asyncio.gather` take about one
latency, twenty made one after another take twenty.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class LatencyMiddleware:
    def __init__(self, app: ASGIApp, latency_ms: float) -> None:
        self.app = app
        self.delay_s = max(latency_ms, 0.0) / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.delay_s:
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)
