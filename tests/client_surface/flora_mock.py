"""A scripted mock FLORA for client_surface tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx

API_KEY = "sk_test_secret_key_123"

# Answers as FLORA's SDK types them (timestamps in Unix ms, costs in USD).
STAMP = 1767225600000
RUN = {"run_id": "run_1", "status": "completed", "progress": 100, "created_at": STAMP}
RUN_START = {"run_id": "run_1", "type": "generation", "charged_cost": 0.01,
             "estimated_seconds": 6}  # fmt: skip
PROJECT = {"project_id": "prj_1", "name": "p", "workspace_id": "ws_1", "created_at": STAMP,
           "last_modified": STAMP, "origin": "api"}  # fmt: skip


def item(items_key: str, id_field: str, ident: str) -> dict[str, object]:
    """One list item of `items_key` with the fields FLORA's SDK requires."""
    if items_key == "generations":
        return {**RUN, id_field: ident, "generation_id": ident, "workspace_id": "ws_1",
                "project_id": "prj_1"}  # fmt: skip
    if items_key == "technique_runs":
        technique = {"technique_id": "tech_1", "name": "T"}
        return {**RUN, id_field: ident, "technique_run_id": ident, "workspace_id": "ws_1",
                "project_id": "prj_1", "technique": technique}  # fmt: skip
    if items_key == "projects":
        return {**PROJECT, id_field: ident}
    return {id_field: ident}


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def scripted(*responses: httpx.Response | Exception) -> Recorder:
    """Answer the requests in order with the given responses (or raise the exceptions)."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return Recorder(handler)


class Sleeps(list[float]):
    async def async_sleep(self, seconds: float) -> None:
        self.append(seconds)

    def sync_sleep(self, seconds: float) -> None:
        self.append(seconds)


def three_page_handler(items_key: str = "generations", id_field: str = "run_id") -> Recorder:
    """Three pages of two items each, chained by cursor c1 -> c2 -> end."""
    pages = {
        None: ([f"{id_field}_1", f"{id_field}_2"], "c1"),
        "c1": ([f"{id_field}_3", f"{id_field}_4"], "c2"),
        "c2": ([f"{id_field}_5", f"{id_field}_6"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        ids, nxt = pages[request.url.params.get("cursor")]
        body = {
            items_key: [item(items_key, id_field, i) for i in ids],
            "meta": {"next_cursor": nxt},
        }
        return httpx.Response(200, json=body, headers={"request-id": "req_page"})

    return Recorder(handler)
