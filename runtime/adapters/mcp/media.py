"""What an agent and a person can see: image and audio outputs of an execution's result as MCP
content blocks (thumbnails, size-capped), besides the JSON.

The result is walked for URLs (at most `MAX_MEDIA` of them). A URL the embedded backend serves
(its public address) is read in-process, so the stdio server, which no HTTP address serves, still
shows its images inline; any other URL is fetched only over https from a public address, with a
short timeout and no redirects. An image is cut
down to a `THUMBNAIL_PX` thumbnail (JPEG or PNG) and left out when it still exceeds
`MAX_BLOCK_BYTES`; audio is sent only when it is under that cap.
"""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import mcp_types as types

from runtime.executions.service import Executions

log = logging.getLogger("terrarium.mcp")

MAX_MEDIA = 4
THUMBNAIL_PX = 384
MAX_BLOCK_BYTES = 200 * 1024
MAX_FETCH_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_S = 5.0

Block = types.ImageContent | types.AudioContent


def media_urls(value: Any, found: list[str] | None = None, depth: int = 0) -> list[str]:
    """The http(s) URLs in a result, in order, each once, at most `MAX_MEDIA`."""
    found = [] if found is None else found
    if len(found) >= MAX_MEDIA or depth > 20:
        return found
    if isinstance(value, str):
        if value.startswith(("http://", "https://")) and value not in found:
            found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            media_urls(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value[:200]:
            media_urls(item, found, depth + 1)
    return found


def thumbnail(data: bytes) -> tuple[bytes, str] | None:
    """A thumbnail of an image, at most `THUMBNAIL_PX` on its longer side, or None."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            if image.mode in ("RGBA", "LA", "P"):
                image.save(out, "PNG", optimize=True)
                return out.getvalue(), "image/png"
            image.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue(), "image/jpeg"
    except Exception:  # not an image Pillow reads
        return None


def block(data: bytes, content_type: str) -> Block | None:
    """One content block for fetched bytes, or None when they are neither or too large."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith("image/"):
        made = thumbnail(data)
        if made is None or len(made[0]) > MAX_BLOCK_BYTES:
            return None
        encoded = base64.b64encode(made[0]).decode()
        return types.ImageContent(type="image", data=encoded, mime_type=made[1])
    if kind.startswith("audio/") and len(data) <= MAX_BLOCK_BYTES:
        encoded = base64.b64encode(data).decode()
        return types.AudioContent(type="audio", data=encoded, mime_type=kind)
    return None


async def public_https(url: str) -> bool:
    """Whether `url` is https to a host whose every address is public: a script's result must
    not make the server fetch from its own network."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return False
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, parts.hostname, parts.port or 443)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    return bool(addresses) and all(a.is_global for a in addresses)


async def _fetch(executions: Executions, url: str) -> tuple[bytes, str] | None:
    backend = executions.connections.backend
    public = executions.settings.backend_public_url.rstrip("/")
    if backend is not None and url.startswith(public + "/"):
        client = httpx.AsyncClient(transport=backend.transport(), base_url="http://backend")
        url = url[len(public) :]
    elif await public_https(url):
        client = httpx.AsyncClient()
    else:
        return None
    async with client:
        async with client.stream("GET", url, timeout=FETCH_TIMEOUT_S) as response:
            kind = response.headers.get("content-type", "")
            if response.status_code != 200 or not kind.startswith(("image/", "audio/")):
                return None
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_FETCH_BYTES:
                    return None
            return bytes(data), kind


async def media_blocks(executions: Executions, result: Any) -> list[Block]:
    """Image and audio content blocks for the media URLs in `result`; a URL that cannot be
    fetched or shown is skipped (the JSON still holds it)."""
    urls = media_urls(result)
    if not urls:
        return []

    async def one(url: str) -> Block | None:
        try:
            fetched = await asyncio.wait_for(_fetch(executions, url), FETCH_TIMEOUT_S * 2)
        except Exception as exc:
            log.info("mcp media not shown (%s): %s", type(exc).__name__, url[:200])
            return None
        return None if fetched is None else await asyncio.to_thread(block, *fetched)

    blocks = await asyncio.gather(*(one(url) for url in urls))
    return [b for b in blocks if b is not None]
