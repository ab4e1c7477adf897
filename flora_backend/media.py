"""Real output files for the built-in backend: PNG images, animated GIF "videos", WAV audio
and text, each a pure function of (model, prompt, params) so the same inputs give the same
bytes."""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import math
import random
import struct
import threading
import wave
import zlib
from typing import Any

from PIL import Image, ImageDraw

SIZES = {
    "square_1_1": (512, 512),
    "landscape_4_3": (640, 480),
    "portrait_3_4": (480, 640),
    "landscape_16_9": (768, 432),
    "portrait_9_16": (432, 768),
}
VIDEO_SIZES = {k: (w // 2, h // 2) for k, (w, h) in SIZES.items()}

CONTENT_TYPES = {
    "image": ("image/png", "png"),
    "video": ("image/gif", "gif"),
    "audio": ("audio/wav", "wav"),
}


def _rng(model_id: str, prompt: str, params: dict[str, Any]) -> random.Random:
    seed = params.get("seed")
    key = f"{model_id}\x00{prompt}\x00{seed}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def _color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


@functools.lru_cache(maxsize=16)
def _gradient(size: tuple[int, int]) -> Image.Image:
    """The top-to-bottom mask of a scene this size, made once (resizing it is most of a small
    image's drawing); only read, never drawn on."""
    return Image.linear_gradient("L").resize(size)


def _scene(rng: random.Random, size: tuple[int, int], caption: str | None) -> Image.Image:
    w, h = size
    top, bottom = _color(rng), _color(rng)
    gradient = _gradient((w, h))
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randint(min(w, h) // 20, min(w, h) // 4)
        box = (x - r, y - r, x + r, y + r)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_color(rng))
        else:
            draw.rectangle(box, fill=_color(rng))
    if caption:
        draw.rectangle((0, h - 22, w, h), fill=(0, 0, 0))
        draw.text((6, h - 18), caption[:90], fill=(255, 255, 255))
    return image


def png(model_id: str, prompt: str, params: dict[str, Any]) -> bytes:
    size = SIZES.get(params.get("aspect_ratio", "square_1_1"), SIZES["square_1_1"])
    image = _scene(_rng(model_id, prompt, params), size, prompt)
    buf = io.BytesIO()
    # zlib's fastest level with run-length matching: these images are flat fills and a
    # gradient, which it packs almost as small as the default level, at two thirds of the time.
    image.save(buf, format="PNG", optimize=False, compress_level=1, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def gif(model_id: str, prompt: str, params: dict[str, Any]) -> bytes:
    rng = _rng(model_id, prompt, params)
    size = VIDEO_SIZES.get(params.get("aspect_ratio", "landscape_16_9"), VIDEO_SIZES["square_1_1"])
    base = _scene(rng, size, prompt)
    seconds = int(params.get("duration") or 4)
    count = 12
    w, h = size
    ball, r = _color(rng), min(w, h) // 10
    frames = []
    for i in range(count):
        frame = base.copy()
        t = i / count
        x = int((w - 2 * r) * t) + r
        y = int(h / 2 + math.sin(t * 2 * math.pi) * h / 4)
        ImageDraw.Draw(frame).ellipse((x - r, y - r, x + r, y + r), fill=ball)
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=int(seconds * 1000 / count),
        loop=0,
    )
    return buf.getvalue()


def wav(model_id: str, prompt: str, params: dict[str, Any], rate: int = 16000) -> bytes:
    rng = _rng(model_id, prompt, params)
    seconds = max(1, int(params.get("duration") or 5))
    notes = [rng.choice([220.0, 261.6, 293.7, 329.6, 392.0, 440.0]) for _ in range(seconds * 4)]
    step = rate // 4
    samples = bytearray()
    for n, freq in enumerate(notes):
        k = 2 * math.pi * freq / rate
        for i in range(step):
            envelope = min(1.0, i / 200, (step - i) / 200)
            value = int(9000 * envelope * math.sin(k * (n * step + i)))
            samples += struct.pack("<h", value)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return buf.getvalue()


def text(model_id: str, prompt: str, params: dict[str, Any]) -> str:
    rng = _rng(model_id, prompt, params)
    openers = ["Here is a take on", "A short answer to", "Thinking about", "In response to"]
    topic = " ".join(prompt.split())[:400]
    ideas = ["clarity", "contrast", "a single focal point", "warm light", "bold type", "motion"]
    picked = rng.sample(ideas, 3)
    return (
        f"{rng.choice(openers)}: {topic}\n\n"
        f"1. Lead with {picked[0]}.\n2. Support it with {picked[1]}.\n"
        f"3. Finish with {picked[2]}.\n\n(Generated locally by {model_id} in Terrarium.)"
    )


def made(media_type: str, model_id: str, prompt: str, params: dict[str, Any]) -> bytes | None:
    """The file `render` gives for these inputs if it made one lately, else None (never draws)."""
    try:
        key = (media_type, model_id, prompt, json.dumps(params, sort_keys=True))
    except (TypeError, ValueError):
        return None
    with _made_lock:
        data = _made.get(key)
        if data is not None:
            _made.move_to_end(key)
        return data


def render(media_type: str, model_id: str, prompt: str, params: dict[str, Any]) -> bytes:
    """The file bytes for an image, video or audio output. Each is a pure function of its
    inputs, so a file made for the same inputs lately is given again, not drawn again."""
    try:
        key = (media_type, model_id, prompt, json.dumps(params, sort_keys=True))
    except (TypeError, ValueError):  # parameters JSON cannot spell: drawn every time
        return _render(media_type, model_id, prompt, params)
    with _made_lock:
        data = _made.get(key)
        if data is not None:
            _made.move_to_end(key)
            return data
    data = _render(media_type, model_id, prompt, params)
    _remember(key, data)
    return data


# Files made lately, most recent last, up to MADE_BYTES in all (a PNG here is about 10 kB);
# bytes are immutable, so one copy is handed to every caller. Renders run in worker threads.
MADE_BYTES = 8 * 1024 * 1024
_made: collections.OrderedDict[tuple[str, str, str, str], bytes] = collections.OrderedDict()
_made_size = 0
_made_lock = threading.Lock()


def _remember(key: tuple[str, str, str, str], data: bytes) -> None:
    global _made_size
    if len(data) > MADE_BYTES // 8:
        return
    with _made_lock:
        if key in _made:
            return
        _made[key] = data
        _made_size += len(data)
        while _made_size > MADE_BYTES:
            _, dropped = _made.popitem(last=False)
            _made_size -= len(dropped)


def _render(media_type: str, model_id: str, prompt: str, params: dict[str, Any]) -> bytes:
    if media_type == "image":
        return png(model_id, prompt, params)
    if media_type == "video":
        return gif(model_id, prompt, params)
    if media_type == "audio":
        return wav(model_id, prompt, params)
    raise ValueError(f"no file for media type {media_type!r}")
