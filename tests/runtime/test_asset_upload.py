"""A script uploads a file with client.assets.upload through the built-in backend: as base64, by
URL, and the refusals (bad base64, too large), each one call of the script's."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlparse

from PIL import Image

from client_surface.table import SCRIPT_UPLOAD_MAX_BYTES


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


PNG = png_bytes()


def test_a_script_uploads_base64_and_reads_the_asset_back(api, run):
    code = f"""
async def run(client):
    ws = (await client.workspaces.list()).workspaces[0].workspace_id
    up = await client.assets.upload({base64.b64encode(PNG).decode()!r}, workspace_id=ws,
                                    file_name="red.png")
    back = await client.assets.retrieve(up.asset_id)
    return [up.asset_id, back.status, back.url, back.content_type, back.width, back.size_bytes]
"""
    body = run(code)
    assert body["status"] == "ok", body
    asset_id, status, url, content_type, width, size = body["result"]
    assert status == "ready" and content_type == "image/png" and width == 3
    assert size == len(PNG)
    served = api.get(urlparse(url).path)
    assert served.status_code == 200 and served.content == PNG
    methods = [c["method"] for c in body["calls"]]
    assert methods == ["workspaces.list", "assets.upload", "assets.retrieve"]  # one call each


def test_a_script_uploads_a_data_url_and_by_url(api, run):
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    code = f"""
def run(client):
    ws = client.workspaces.list().workspaces[0].workspace_id
    first = client.assets.upload({data_url!r}, workspace_id=ws)
    again = client.assets.upload(first.url, workspace_id=ws)
    fresh = again.asset_id != first.asset_id
    return [first.status, again.status, again.uploaded_via, again.name, fresh]
"""
    body = run(code)
    assert body["status"] == "ok", body
    assert body["result"][:3] == ["ready", "ready", "url"]
    assert body["result"][4] is True


def test_bad_base64_is_an_argument_error_before_any_request(run):
    code = """
def run(client):
    ws = client.workspaces.list().workspaces[0].workspace_id
    try:
        client.assets.upload("this is not base64!", workspace_id=ws)
    except TypeError as exc:
        return str(exc)
"""
    body = run(code)
    assert body["status"] == "ok", body
    assert "neither an http(s) URL nor base64" in body["result"]
    assert body["calls"][-1]["method"] == "assets.upload"
    assert body["calls"][-1]["error_code"] == "invalid_arguments"


def test_too_many_bytes_for_a_script_say_to_pass_a_url(run):
    size = SCRIPT_UPLOAD_MAX_BYTES + 1
    code = f"""
import base64
def run(client):
    ws = client.workspaces.list().workspaces[0].workspace_id
    client.assets.upload(base64.b64encode(b"x" * {size}).decode(), workspace_id=ws)
"""
    body = run(code)
    assert body["status"] == "error", body
    message = body["error"]["message"]
    assert f"{size:,} bytes" in message and "https URL" in message
    assert body["calls"][-1]["error_code"] == "invalid_arguments"


def test_another_tenants_workspace_is_refused_in_the_host(run):
    code = f"""
def run(client):
    return client.assets.upload({base64.b64encode(PNG).decode()!r}, workspace_id="ws_other")
"""
    body = run(code)
    assert body["status"] == "error"
    assert "workspace" in body["error"]["message"]
