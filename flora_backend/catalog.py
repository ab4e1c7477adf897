"""What the built-in backend offers: its model catalog (image, video, audio, text), the
techniques seeded on start, and the checks that turn a request's `model`/`params` into
canonical values or an error that lists what would have been accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MEDIA_TYPES = ("image", "video", "audio", "text")

# Families agents sometimes pass as `type`; each maps to the media type to pass instead.
FAMILIES = {
    "t2i": "image",
    "i2i": "image",
    "text-to-image": "image",
    "t2v": "video",
    "i2v": "video",
    "v2v": "video",
    "text-to-video": "video",
    "tts": "audio",
    "t2a": "audio",
    "t2m": "audio",
    "t2s": "audio",
    "text-to-speech": "audio",
    "llm": "text",
    "t2t": "text",
    "chat": "text",
}

# What one credit costs. FLORA types every cost it answers (a run's charged_cost, a technique's
# run_cost) in USD and a model's estimated_credits in credits; workspaces are charged credits.
CREDIT_USD = 0.001


def usd(credits: int | float) -> float:
    """Credits as US dollars, rounded to a millionth."""
    return round(credits * CREDIT_USD, 6)


OUTPUT_TYPE = {"image": "imageUrl", "video": "videoUrl", "audio": "audioUrl", "text": "text"}

ASPECT_RATIOS = [
    ("square_1_1", "Square 1:1", "1:1"),
    ("landscape_4_3", "Landscape 4:3", "4:3"),
    ("portrait_3_4", "Portrait 3:4", "3:4"),
    ("landscape_16_9", "Landscape 16:9", "16:9"),
    ("portrait_9_16", "Portrait 9:16", "9:16"),
]
ASPECT_ALIASES = {alias: value for value, _label, alias in ASPECT_RATIOS}


def _aspect_param(default: str) -> dict[str, Any]:
    return {
        "name": "aspect_ratio",
        "type": "string",
        "required": False,
        "default": default,
        "label": "Aspect ratio",
        "description": "Shape of the output; `4:3` style values are accepted too.",
        "options": [{"label": label, "value": value} for value, label, _ in ASPECT_RATIOS],
    }


SEED = {
    "name": "seed",
    "type": "seed",
    "required": False,
    "label": "Seed",
    "description": "Same prompt and seed give the same output.",
    "min": 0,
    "max": 2**32 - 1,
}


def _duration(options: list[int] | None, default: int, lo: int = 1, hi: int = 30) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": "duration",
        "type": "int",
        "required": False,
        "default": default,
        "label": "Duration (seconds)",
    }
    if options:  # FLORA's option values are strings, numbers included
        param["type"] = "string"
        param["default"] = str(default)
        param["options"] = [{"label": f"{o} s", "value": str(o)} for o in options]
    else:
        param["min"], param["max"] = lo, hi
    return param


VOICE = {
    "name": "voice",
    "type": "string",
    "required": False,
    "default": "aria",
    "label": "Voice",
    "options": [
        {"label": "Aria", "value": "aria"},
        {"label": "Roger", "value": "roger"},
        {"label": "Sarah", "value": "sarah"},
    ],
}
MAX_TOKENS = {
    "name": "max_tokens",
    "type": "int",
    "required": False,
    "default": 1024,
    "label": "Max tokens",
    "min": 1,
    "max": 32000,
}
TEMPERATURE = {
    "name": "temperature",
    "type": "float",
    "required": False,
    "default": 0.7,
    "label": "Temperature",
    "min": 0.0,
    "max": 2.0,
}


@dataclass(frozen=True)
class CatalogModel:
    model_id: str
    name: str
    type: str
    provider: str
    capabilities: tuple[str, ...]
    estimated_credits: int
    estimated_seconds: float
    params: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    beta: bool = False
    # For duration-priced models, credits per second of output instead of a flat price.
    credits_per_second: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_id": self.model_id,
            "name": self.name,
            "type": self.type,
            "provider": self.provider,
            "capabilities": list(self.capabilities),
            "estimated_credits": self.estimated_credits,
            "estimated_seconds": self.estimated_seconds,
            "params": [dict(p) for p in self.params],
        }
        if self.beta:
            out["beta"] = True
        return out

    def cost(self, params: dict[str, Any]) -> int:
        """Credits a run with these (canonical) params costs."""
        if self.credits_per_second and "duration" in params:
            return int(self.credits_per_second * int(params["duration"]))
        return self.estimated_credits

    def seconds(self, params: dict[str, Any]) -> float:
        default = next((p.get("default") for p in self.params if p["name"] == "duration"), None)
        if default and "duration" in params and self.type == "video":
            return self.estimated_seconds * int(params["duration"]) / int(default)
        return self.estimated_seconds


_IMG = ("text-to-image",)
_IMG_EDIT = ("text-to-image", "image-to-image")
_VID = ("text-to-video",)
_VID_I = ("text-to-video", "image-to-video")

MODELS: tuple[CatalogModel, ...] = (
    CatalogModel("t2i-flux-2-pro", "FLUX.2 [pro]", "image", "Black Forest Labs", _IMG_EDIT,
                 50, 6, (_aspect_param("square_1_1"), SEED)),
    CatalogModel("t2i-flux-2-klein-4b", "FLUX.2 [klein] 4B", "image", "Black Forest Labs", _IMG,
                 8, 2, (_aspect_param("square_1_1"), SEED)),
    CatalogModel("t2i-imagen-4", "Imagen 4", "image", "Google", _IMG,
                 40, 8, (_aspect_param("square_1_1"), SEED)),
    CatalogModel("t2i-gpt-image-1", "GPT Image 1", "image", "OpenAI", _IMG_EDIT,
                 80, 20, (_aspect_param("square_1_1"),)),
    CatalogModel("t2i-seedream-4", "Seedream 4.0", "image", "ByteDance", _IMG_EDIT,
                 30, 10, (_aspect_param("square_1_1"), SEED), beta=True),
    CatalogModel("t2v-veo-3", "Veo 3", "video", "Google", _VID_I,
                 3200, 90, (_aspect_param("landscape_16_9"), _duration([4, 6, 8], 8), SEED),
                 credits_per_second=400),
    CatalogModel("t2v-veo-3-fast", "Veo 3 Fast", "video", "Google", _VID_I,
                 1200, 45, (_aspect_param("landscape_16_9"), _duration([4, 6, 8], 8), SEED),
                 credits_per_second=150),
    CatalogModel("t2v-kling-2-1", "Kling 2.1", "video", "Kuaishou", _VID_I,
                 1400, 120, (_aspect_param("landscape_16_9"), _duration([5, 10], 5), SEED),
                 credits_per_second=280),
    CatalogModel("tts-elevenlabs-v3", "Eleven v3", "audio", "ElevenLabs", ("text-to-speech",),
                 60, 4, (VOICE, _duration(None, 5, 1, 60), SEED)),
    CatalogModel("tts-gpt-4o-mini", "GPT-4o mini TTS", "audio", "OpenAI", ("text-to-speech",),
                 15, 3, (VOICE, _duration(None, 5, 1, 60))),
    CatalogModel("t2a-stable-audio-2", "Stable Audio 2", "audio", "Stability AI",
                 ("text-to-audio", "text-to-music"), 100, 12, (_duration(None, 10, 1, 47), SEED)),
    CatalogModel("llm-gpt-5", "GPT-5", "text", "OpenAI", ("text-generation",),
                 10, 4, (MAX_TOKENS, TEMPERATURE)),
    CatalogModel("llm-claude-sonnet-4-5", "Claude Sonnet 4.5", "text", "Anthropic",
                 ("text-generation", "vision"), 12, 5, (MAX_TOKENS, TEMPERATURE)),
    CatalogModel("llm-gemini-2-5-flash", "Gemini 2.5 Flash", "text", "Google",
                 ("text-generation", "vision"), 2, 2, (MAX_TOKENS, TEMPERATURE, SEED)),
)  # fmt: skip

BY_ID = {m.model_id: m for m in MODELS}
DEFAULT_MODEL = {
    "image": "t2i-flux-2-pro",
    "video": "t2v-veo-3-fast",
    "audio": "tts-elevenlabs-v3",
    "text": "llm-gemini-2-5-flash",
}


def models_of(media_type: str | None) -> list[CatalogModel]:
    return [m for m in MODELS if media_type is None or m.type == media_type]


class CatalogError(ValueError):
    """A request named a model or param value the catalog does not have."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def family_hint(value: Any) -> str | None:
    """The message for `type` given as a family (t2i...) or anything but a media type."""
    if not isinstance(value, str) or value in MEDIA_TYPES:
        return None
    fixed = FAMILIES.get(value.lower()) or (value.lower() if value.lower() in MEDIA_TYPES else None)
    if fixed:
        return (
            f"Must be exactly one of image, video, audio, text; {value!r} is a model family: "
            f"pass type={fixed!r} (and choose the model with `model`)"
        )
    return f"Must be exactly one of image, video, audio, text (got {value!r})"


def resolve_model(media_type: str, model_id: str | None) -> CatalogModel:
    if model_id is None:
        return BY_ID[DEFAULT_MODEL[media_type]]
    model = BY_ID.get(model_id)
    valid = ", ".join(m.model_id for m in models_of(media_type))
    if model is None:
        raise CatalogError(
            "model", f"Unknown model {model_id!r} for type {media_type!r}. Valid ids: {valid}."
        )
    if model.type != media_type:
        raise CatalogError(
            "model",
            f"Model {model_id!r} makes {model.type}, not {media_type}; pass "
            f"type={model.type!r}, or one of the {media_type} models: {valid}.",
        )
    return model


def _number(
    name: str, spec: dict[str, Any], value: Any, kind: type[int] | type[float]
) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"params.{name}", f"params.{name} must be a number (got {value!r}).")
    if kind is int and float(value) != int(value):
        raise CatalogError(f"params.{name}", f"params.{name} must be a whole number.")
    number = kind(value)
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise CatalogError(
            f"params.{name}", f"params.{name} must be between {lo} and {hi} (got {number})."
        )
    return number


def unknown_params(model: CatalogModel, params: dict[str, Any] | None) -> list[str]:
    """The keys of `params` the model does not list (accepted, as FLORA does, and ignored)."""
    names = {p["name"] for p in model.params}
    return [k for k in params or {} if k not in names]


def validate_params(model: CatalogModel, params: dict[str, Any] | None) -> dict[str, Any]:
    """Canonical params with defaults filled in, or CatalogError naming the valid values.

    `params` is an open map, as FLORA's: keys the model does not list are kept as given and
    affect nothing; the ones it lists are checked."""
    params = dict(params or {})
    specs = {p["name"]: p for p in model.params}
    out: dict[str, Any] = {k: v for k, v in params.items() if k not in specs}
    for name, spec in specs.items():
        if name not in params or params[name] is None:
            if spec.get("default") is not None:
                out[name] = spec["default"]
            continue
        value = params[name]
        options = spec.get("options")
        if name == "aspect_ratio" and isinstance(value, str):
            value = ASPECT_ALIASES.get(value.strip(), value.strip())
        if options:
            # Option values are strings; a number naming one (duration=8 for "8") is that one.
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(int(value)) if float(value) == int(value) else str(value)
            if value not in [o["value"] for o in options]:
                listed = ", ".join(repr(o["value"]) for o in options)
                raise CatalogError(
                    f"params.{name}",
                    f"params.{name} {params[name]!r} is not an option of {model.model_id}; "
                    f"use one of {listed}.",
                )
        elif spec["type"] in ("int", "seed"):
            value = _number(name, spec, value, int)
        elif spec["type"] == "float":
            value = _number(name, spec, value, float)
        out[name] = value
    return out


# ---------------------------------------------------------------- techniques

TECHNIQUES: tuple[dict[str, Any], ...] = (
    {
        "id": "tech_thumbnailv3x7k2m9q4",
        "slug": "thumbnail-v3",
        "name": "Thumbnail v3",
        "description": "A 16:9 video thumbnail from a title and an optional reference image.",
        "model_id": "t2i-flux-2-pro",
        "prompt_template": "YouTube thumbnail, bold and legible: {title}",
        "params": {"aspect_ratio": "landscape_16_9"},
        "run_cost": 60,
        "inputs": [
            {"id": "title", "name": "Title", "type": "text", "description": "Video title."},
            {
                "id": "image",
                "name": "Reference image",
                "type": "imageUrl",
                "description": "Subject to feature.",
                "optional": True,
            },
        ],
        "outputs": [{"id": "thumbnail", "name": "Thumbnail", "type": "imageUrl"}],
    },
    {
        "id": "tech_productshot2b8n5w1r",
        "slug": "product-shot",
        "name": "Product shot",
        "description": "A studio product photo on a clean background, square.",
        "model_id": "t2i-imagen-4",
        "prompt_template": "Studio product photo, soft light, seamless background: {product}",
        "params": {"aspect_ratio": "square_1_1"},
        "run_cost": 45,
        "inputs": [
            {"id": "product", "name": "Product", "type": "text", "description": "What to show."},
        ],
        "outputs": [{"id": "photo", "name": "Photo", "type": "imageUrl"}],
    },
    {
        "id": "tech_voiceover1c4v6t8y",
        "slug": "voiceover",
        "name": "Voiceover",
        "description": "Reads a script aloud as a WAV voiceover.",
        "model_id": "tts-elevenlabs-v3",
        "prompt_template": "{script}",
        "params": {"duration": 6},
        "run_cost": 60,
        "inputs": [
            {"id": "script", "name": "Script", "type": "text", "description": "Text to read."},
        ],
        "outputs": [{"id": "audio", "name": "Voiceover", "type": "audioUrl"}],
    },
)


def technique_json(row: Any) -> dict[str, Any]:
    """A technique as FLORA's SDK types it: run_cost in USD (stored in credits), no slug."""
    out = {
        "technique_id": row.id,
        "name": row.name,
        "run_cost": usd(row.run_cost),
        "inputs": row.inputs,
        "outputs": row.outputs,
    }
    if row.description:
        out["description"] = row.description
    return out


TECHNIQUE_PARAMS: dict[str, dict[str, Any]] = {t["id"]: t["params"] for t in TECHNIQUES}
