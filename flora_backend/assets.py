"""Asset bytes for the built-in backend: fetching a public URL (checked like a webhook target,
and connecting only to the addresses that were checked), recognising what the bytes are
(images measured with Pillow, other allowed types by their signature); they are stored (files.py)
and served at `/api/v1/files/{file_id}` like any generated output."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import httpcore
from PIL import Image

from flora_backend import callback_urls
from flora_backend.webhooks import PinnedNetworkBackend

DIRECT_MAX_BYTES = 4 * 1024 * 1024  # multipart bytes in POST /assets
FETCH_MAX_BYTES = 50 * 1024 * 1024  # a URL fetched server-side, and a signed upload
FETCH_TIMEOUT_S = 30.0
MAX_PIXELS = 150_000_000

IMAGE_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
}
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "application/pdf": "pdf",
}
ALLOWED = ", ".join(EXTENSIONS)


class AssetRefused(ValueError):
    """The bytes or the URL cannot become an asset; `reason` says why, in the caller's terms."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Probed:
    content_type: str
    width: int | None
    height: int | None


def _signature(data: bytes) -> str | None:
    """The content type of an allowed non-image file, from its first bytes."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    return None


def probe(data: bytes) -> Probed:
    """What `data` is; AssetRefused when it is empty or not an allowed type."""
    if not data:
        raise AssetRefused("The file is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = IMAGE_TYPES.get(image.format or "")
            if kind is not None:
                if image.width * image.height > MAX_PIXELS:
                    raise AssetRefused("The image is larger than 150 megapixels")
                return Probed(kind, image.width, image.height)
    except (OSError, Image.DecompressionBombError, ValueError):
        pass
    kind = _signature(data)
    if kind is None:
        raise AssetRefused(f"The file is not of an allowed type ({ALLOWED})")
    return Probed(kind, None, None)


async def fetch(
    url: str,
    *,
    allow_private: bool,
    resolver: callback_urls.Resolver,
    max_bytes: int = FETCH_MAX_BYTES,
) -> tuple[bytes, str | None]:
    """(bytes, content-type header) of a GET of `url`: only a public https URL (unless
    allow_private), connecting only to the addresses that were checked, no redirects, at most
    `max_bytes`. Raises AssetRefused."""
    try:
        target = await callback_urls.check(url, allow_private=allow_private, resolver=resolver)
    except callback_urls.CallbackUrlRefused as exc:
        reason = exc.reason.replace("webhooks are delivered only to", "assets come only from")
        raise AssetRefused(reason) from None
    request_url = httpcore.URL(
        scheme=target.url.raw_scheme,
        host=target.host.encode("ascii"),
        port=target.port,
        target=target.url.raw_path,
    )
    headers = [(b"host", target.url.netloc), (b"accept", b"*/*")]
    timeouts = {k: FETCH_TIMEOUT_S for k in ("connect", "read", "write", "pool")}
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            async with httpcore.AsyncConnectionPool(
                max_connections=1,
                retries=0,
                network_backend=PinnedNetworkBackend(target.addresses),
            ) as pool:
                async with pool.stream(
                    "GET", request_url, headers=headers, extensions={"timeout": timeouts}
                ) as response:
                    if response.status != 200:
                        raise AssetRefused(f"GET {url} answered {response.status}, not 200")
                    content_type = None
                    for key, value in response.headers:
                        if key.lower() == b"content-type":
                            content_type = value.decode("latin-1").split(";")[0].strip()
                    body = bytearray()
                    async for chunk in response.aiter_stream():
                        body += chunk
                        if len(body) > max_bytes:
                            raise AssetRefused(f"The file is larger than {max_bytes} bytes")
    except TimeoutError:
        raise AssetRefused(f"GET {url} did not finish within {FETCH_TIMEOUT_S:g} s") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as exc:
        raise AssetRefused(f"GET {url} failed: {exc or type(exc).__name__}") from None
    return bytes(body), content_type
