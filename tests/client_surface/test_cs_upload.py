"""assets.upload, the SDK's helper: its steps over FLORA's endpoints, its input forms, its caps."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from flora_mock import API_KEY, Recorder

from client_surface._client import UPLOAD_POLLS, content_type_of, upload_source
from client_surface.dispatch import dispatch_call
from client_surface.errors import APIError, ArgumentError
from client_surface.table import HELPERS, SCRIPT_UPLOAD_MAX_BYTES, SURFACE, find, sandbox_spec

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
CREATED = {"asset_id": "asset_1", "status": "pending_upload", "uploaded_via": "signed_url",
           "url": "https://cdn.test/a", "visibility": "workspace", "workspace_id": "ws_1",
           "upload_url": "https://upload.test/put?sig=1"}  # fmt: skip
STATE = {"asset_id": "asset_1", "status": "ready", "url": "https://cdn.test/a",
         "visibility": "workspace", "workspace_id": "ws_1"}  # fmt: skip
DETAIL = {"asset_id": "asset_1", "content_type": "image/png", "created_at": None,
          "description": None, "failure_message": None, "height": 1, "name": "a.png",
          "size_bytes": len(PNG), "status": "ready", "upload_content_type": "image/png",
          "uploaded_via": "signed_url", "url": "https://cdn.test/a", "width": 1,
          "workspace_id": "ws_1"}  # fmt: skip


def flora(statuses: list[str], put_status: int = 200) -> Recorder:
    """FLORA answering create, the upload, complete, then retrieve with `statuses` in turn."""
    left = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == "upload.test":
            return httpx.Response(put_status, text="" if put_status < 300 else "denied")
        if path.endswith("/assets"):
            return httpx.Response(201, json=CREATED)
        if path.endswith("/complete"):
            return httpx.Response(200, json=STATE)
        status = left.pop(0) if len(left) > 1 else left[0]
        return httpx.Response(200, json={**DETAIL, "status": status})

    return Recorder(handler)


def test_the_helper_is_declared_once_in_the_table_beside_the_endpoints():
    [upload] = HELPERS
    assert find("assets.upload") is upload and find("client.assets.upload") is upload
    assert upload not in SURFACE  # the backend serves endpoints only
    assert upload.helper and upload.positional == ("file",)
    assert upload.workspace_args == ("workspace_id",)
    spec = sandbox_spec()["methods"]["assets.upload"]
    assert [p["name"] for p in spec["params"]] == [
        "file", "workspace_id", "content_type", "file_name", "folder", "project_id"
    ]  # fmt: skip


async def test_bytes_go_create_put_complete_then_poll_until_ready(make_async, sleeps):
    rec = flora(["pending_upload", "pending_upload", "ready"])
    client = make_async(rec)
    asset = await client.assets.upload(PNG, workspace_id="ws_1", file_name="a.png")
    assert asset.status == "ready" and asset.asset_id == "asset_1"
    steps = [(r.method, r.url.host, r.url.path) for r in rec.requests]
    assert (
        steps
        == [
            ("POST", "flora.test", "/api/v1/assets"),
            ("PUT", "upload.test", "/put"),
            ("POST", "flora.test", "/api/v1/assets/asset_1/complete"),
        ]
        + [("GET", "flora.test", "/api/v1/assets/asset_1")] * 3
    )
    create = json.loads(rec.requests[0].content)
    assert create == {"source": "signed-url", "workspace_id": "ws_1", "file_name": "a.png",
                      "content_type": "image/png"}  # fmt: skip
    put = rec.requests[1]
    assert put.content == PNG and put.headers["content-type"] == "image/png"
    assert "authorization" not in put.headers and API_KEY not in str(put.headers)
    assert sleeps == [1.0, 1.0]


async def test_a_url_is_fetched_by_flora_with_no_bytes_sent(make_async):
    rec = flora(["ready"])
    client = make_async(rec)
    await client.assets.upload("https://example.com/pics/fox.png?x=1", workspace_id="ws_1")
    assert [r.method for r in rec.requests] == ["POST", "GET"]
    assert json.loads(rec.requests[0].content) == {
        "source": "https://example.com/pics/fox.png?x=1", "workspace_id": "ws_1",
        "file_name": "fox.png",
    }  # fmt: skip


def test_sync_client_uploads_base64_the_same_way(make_sync):
    rec = flora(["ready"])
    asset = make_sync(rec).assets.upload(base64.b64encode(PNG).decode(), workspace_id="ws_1")
    assert asset.status == "ready" and rec.requests[1].content == PNG


async def test_a_failed_asset_and_one_never_ready_raise_api_errors(make_async, sleeps):
    with pytest.raises(APIError) as failed:
        await make_async(flora(["failed"])).assets.upload(PNG, workspace_id="ws_1")
    assert failed.value.code == "asset_failed"
    with pytest.raises(APIError) as late:
        await make_async(flora(["pending_upload"])).assets.upload(PNG, workspace_id="ws_1")
    assert late.value.code == "asset_timeout" and "assets.retrieve" in late.value.message
    assert len(sleeps) == UPLOAD_POLLS  # bounded: FLORA's 120 s at 1 s a poll


async def test_a_refused_upload_stops_before_complete(make_async):
    rec = flora(["ready"], put_status=403)
    with pytest.raises(APIError) as exc:
        await make_async(rec).assets.upload(PNG, workspace_id="ws_1")
    assert exc.value.code == "upload_failed" and exc.value.status == 403
    assert len(rec.requests) == 2


def test_the_forms_of_file():
    text = base64.b64encode(PNG).decode()
    assert upload_source(text) == PNG
    assert upload_source(text.rstrip("=")) == PNG  # padding optional
    assert upload_source(text[:20] + "\n" + text[20:]) == PNG  # wrapped lines
    assert upload_source(base64.urlsafe_b64encode(PNG).decode()) == PNG
    assert upload_source("data:image/png;base64," + text) == PNG
    assert upload_source(bytearray(PNG)) == PNG
    assert upload_source("https://example.com/a.png") == "https://example.com/a.png"
    assert content_type_of(PNG, None, text) == "image/png"
    assert content_type_of(b"xyz", None, "data:image/gif;base64,eHl6") == "image/gif"
    assert content_type_of(b"xyz", "text/plain", b"xyz") == "text/plain"
    assert content_type_of(b"xyz", None, b"xyz") is None


@pytest.mark.parametrize("bad", ["not base64!", "/tmp/a.png", "ftp://x/a.png", "", "   "])
def test_text_that_is_neither_base64_nor_a_url_is_refused_before_any_request(bad):
    with pytest.raises(ArgumentError) as exc:
        upload_source(bad)
    assert "base64" in exc.value.message or "empty" in exc.value.message


def test_bytes_over_the_cap_are_refused_with_the_url_way_out():
    with pytest.raises(ArgumentError) as exc:
        upload_source(b"x" * (SCRIPT_UPLOAD_MAX_BYTES + 1), SCRIPT_UPLOAD_MAX_BYTES)
    assert "https URL" in exc.value.message and exc.value.hint
    assert upload_source(b"x" * SCRIPT_UPLOAD_MAX_BYTES, SCRIPT_UPLOAD_MAX_BYTES)


async def test_the_dispatcher_runs_the_helper_and_answers_plain_json(make_async):
    rec = flora(["ready"])
    text = base64.b64encode(PNG).decode()
    arguments = {"file": text, "workspace_id": "ws_1"}
    out = await dispatch_call(make_async(rec), "assets.upload", arguments)
    assert out["status"] == "ready" and out["asset_id"] == "asset_1"
    with pytest.raises(ArgumentError):
        await dispatch_call(make_async(rec), "assets.upload", {"file": text})
