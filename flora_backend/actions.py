"""FLORA's prebuilt actions that the built-in backend performs for real: image edits done with
Pillow (colour grade, crop, blur, aspect ratio, rotate and flip, colour filters, tint,
duplicate, side by side, overlay, text, resize) and text edits (split, find and replace,
concatenate). Video and audio actions are not in this catalog: `actions.list` names only what
runs here, so no run ever answers a made-up output.

Each action is a pure function of its input images (or texts) and params; params are checked
against the action's declared params before a run starts."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageEnhance, ImageFilter, ImageOps

# Image actions run in the browser at FLORA; the built-in backend charges one credit (1 credit
# is about $0.001) for each, and text actions nothing.
CREDIT_USD = 0.001
MAX_PIXELS = 150_000_000  # FLORA's cap on an uploaded image (150 MP)


class ActionInputError(ValueError):
    """An action cannot use its inputs or params; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    key: str
    type: str  # number | boolean | select | color | text | point
    label: str
    default: Any = None
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "type": self.type, "label": self.label}
        if self.default is not None:
            out["default_value"] = self.default
        if self.values:
            out["available_values"] = [{"label": v, "value": v} for v in self.values]
        if self.min is not None:
            out["min_number_value"] = self.min
        if self.max is not None:
            out["max_number_value"] = self.max
        return out

    def check(self, value: Any) -> Any:
        where = f"params.{self.key}"
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ActionInputError(where, f"Must be a number (got {value!r})")
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise ActionInputError(where, f"Must be between {self.min:g} and {self.max:g}")
        elif self.type == "boolean":
            if not isinstance(value, bool):
                raise ActionInputError(where, f"Must be true or false (got {value!r})")
        elif self.type == "select":
            if value not in self.values:
                raise ActionInputError(where, f"Must be one of {', '.join(self.values)}")
        elif self.type == "color":
            try:
                ImageColor.getrgb(value)
            except (ValueError, AttributeError, TypeError):
                raise ActionInputError(
                    where, f"Must be a colour like #ff8800 (got {value!r})"
                ) from None
        elif self.type == "point":
            ok = isinstance(value, dict) and set(value) == {"x", "y"}
            fractions = ok and all(
                isinstance(v, int | float) and 0 <= v <= 1 for v in value.values()
            )
            if not fractions:
                raise ActionInputError(where, "Must be {x, y} with each between 0 and 1")
        elif not isinstance(value, str):
            raise ActionInputError(where, f"Must be a string (got {value!r})")
        return value


Images = list[Image.Image]
Texts = list[str]


@dataclass(frozen=True)
class Action:
    action_id: str
    name: str
    description: str
    kind: str  # image | text: what its inputs and outputs are
    params: tuple[Param, ...]
    apply: Callable[[Any, dict[str, Any]], list[Any]]
    min_inputs: int = 1
    max_inputs: int | None = 1
    credits: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def charged_cost(self) -> float:
        return round(self.credits * CREDIT_USD, 6)

    def slot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.kind, "type": self.kind}
        if self.max_inputs != 1:
            bounds: dict[str, int] = {"min": self.min_inputs}
            if self.max_inputs is not None:
                bounds["max"] = self.max_inputs
            out["multiple"] = bounds
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "name": self.name,
            "description": self.description,
            "charged_cost": self.charged_cost,
            "language": "javascript",
            "inputs": [self.slot()],
            "outputs": [{"name": self.kind, "type": self.kind}],
            "params": [p.to_json() for p in self.params],
        }

    def check_params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """The params with defaults filled, or ActionInputError naming an unknown or bad one."""
        declared = {p.key: p for p in self.params}
        values = {p.key: p.default for p in self.params if p.default is not None}
        for key, value in (given or {}).items():
            param = declared.get(key)
            if param is None:
                known = ", ".join(declared) or "none"
                raise ActionInputError(
                    f"params.{key}", f"Not a param of {self.action_id}. Its params: {known}"
                )
            values[key] = param.check(value)
        return values


# ---------------------------------------------------------------- image helpers


def _rgb(color: str) -> tuple[int, int, int]:
    r, g, b = ImageColor.getrgb(color)[:3]
    return r, g, b


def _rgba(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGBA" else image.convert("RGBA")


def _ratio(text: str) -> float:
    w, h = text.split(":")
    return int(w) / int(h)


def _fit_ratio(image: Image.Image, ratio: float, p: dict[str, Any]) -> Image.Image:
    w, h = image.size
    if p["fit"] == "crop":
        if w / h > ratio:
            nw = max(1, round(h * ratio))
            left = (w - nw) // 2
            return image.crop((left, 0, left + nw, h))
        nh = max(1, round(w / ratio))
        top = (h - nh) // 2
        return image.crop((0, top, w, top + nh))
    cw, ch = (round(h * ratio), h) if w / h < ratio else (w, round(w / ratio))
    if p["background_mode"] == "blur":
        back = ImageOps.fit(image.convert("RGB"), (cw, ch)).filter(
            ImageFilter.GaussianBlur(p["blur_amount"])
        )
    else:
        back = Image.new("RGB", (cw, ch), _rgb(p["pad_color"]))
    back = back.convert("RGBA")
    back.alpha_composite(_rgba(image), ((cw - w) // 2, (ch - h) // 2))
    return back


def _color_grade(images: Images, p: dict[str, Any]) -> Images:
    image = images[0].convert("RGB")
    image = ImageEnhance.Brightness(image).enhance(1 + p["brightness"] / 100)
    image = ImageEnhance.Contrast(image).enhance(1 + p["contrast"] / 100)
    image = ImageEnhance.Color(image).enhance(1 + p["saturation"] / 100)
    if p["hue_shift"]:
        h, s, v = image.convert("HSV").split()
        shift = round(p["hue_shift"] / 360 * 255)
        h = h.point(lambda x: (x + shift) % 256)
        image = Image.merge("HSV", (h, s, v)).convert("RGB")
    warmth, tint = p["warmth"], p["tint"]
    if warmth or tint:
        r, g, b = image.split()
        r = r.point(lambda x: max(0, min(255, x + warmth)))
        b = b.point(lambda x: max(0, min(255, x - warmth)))
        g = g.point(lambda x: max(0, min(255, x - tint)))
        image = Image.merge("RGB", (r, g, b))
    return [image]


def _crop(images: Images, p: dict[str, Any]) -> Images:
    image = images[0]
    if p["rotation"]:
        image = image.rotate(-p["rotation"], expand=True, resample=Image.Resampling.BICUBIC)
    w, h = image.size
    cw, ch = max(1, round(w * p["size"]["x"])), max(1, round(h * p["size"]["y"]))
    cx, cy = w * p["center"]["x"], h * p["center"]["y"]
    left = int(min(max(0, cx - cw / 2), w - cw))
    top = int(min(max(0, cy - ch / 2), h - ch))
    return [image.crop((left, top, left + cw, top + ch))]


def _blur(images: Images, p: dict[str, Any]) -> Images:
    return [images[0].filter(ImageFilter.GaussianBlur(p["radius"]))]


def _change_ar(images: Images, p: dict[str, Any]) -> Images:
    return [_fit_ratio(images[0], _ratio(p["aspect_ratio"]), p)]


def _rotate(images: Images, p: dict[str, Any]) -> Images:
    image = images[0]
    direction = p["direction"]
    if direction in ("horizontal", "both"):
        image = ImageOps.mirror(image)
    if direction in ("vertical", "both"):
        image = ImageOps.flip(image)
    if p["angle"] % 360:
        transparent = p["transparent"]
        image = _rgba(image) if transparent else image.convert("RGB")
        fill = (0, 0, 0, 0) if transparent else _rgb(p["background"])
        w, h = image.size
        rotated = image.rotate(
            -p["angle"],
            expand=p["canvas_mode"] != "keep",
            resample=Image.Resampling.BICUBIC,
            fillcolor=fill,
        )
        if p["canvas_mode"] == "shrink":  # back to the original size, the rotated image fitted
            rotated = ImageOps.contain(rotated, (w, h))
        image = rotated
    return [image]


def _color_filter(images: Images, p: dict[str, Any]) -> Images:
    image = images[0].convert("RGB")
    applied = False
    if "sepia_warmth" in p:
        gray = ImageOps.grayscale(image)
        warm = p["sepia_warmth"]
        image = ImageOps.colorize(gray, (20, 10, 0), (255, 230 - warm // 2, 180 - warm))
        applied = True
    if "posterize_bits" in p:
        image = ImageOps.posterize(image, int(p["posterize_bits"]))
        applied = True
    if "solarize_threshold" in p:
        image = ImageOps.solarize(image, p["solarize_threshold"])
        applied = True
    if "bw_threshold" in p:
        cut = p["bw_threshold"]
        image = ImageOps.grayscale(image).point(lambda x: 255 if x >= cut else 0).convert("RGB")
        applied = True
    if not applied:
        image = ImageOps.grayscale(image).convert("RGB")
    if "intensity" in p:
        image = Image.blend(images[0].convert("RGB"), image, p["intensity"] / 100)
    return [image]


_BLENDS: dict[str, Callable[[Image.Image, Image.Image], Image.Image]] = {
    "multiply": ImageChops.multiply,
    "screen": ImageChops.screen,
    "overlay": ImageChops.overlay,
    "soft_light": ImageChops.soft_light,
}


def _tint(images: Images, p: dict[str, Any]) -> Images:
    image = images[0].convert("RGB")
    color = _rgb(p["color"])
    if p["blend_mode"] == "color":
        tinted = ImageOps.colorize(ImageOps.grayscale(image), (0, 0, 0), color)
    else:
        layer = Image.new("RGB", image.size, color)
        tinted = _BLENDS[p["blend_mode"]](image, layer)
    return [Image.blend(image, tinted, p["intensity"] / 100)]


def _duplicate(images: Images, p: dict[str, Any]) -> Images:
    return [images[0].copy() for _ in range(int(p["count"]))]


def _side_by_side(images: Images, p: dict[str, Any]) -> Images:
    layout, gap = p["layout"], int(p["gap"])
    vertical = layout.startswith("vertical") or (layout == "auto" and len(images) > 3)
    heights = [im.height for im in images]
    widths = [im.width for im in images]
    if vertical:
        target = min(widths) if p["normalize"] == "match-shortest" else max(widths)
        parts = [ImageOps.contain(im, (target, 10**6)) if im.width != target else im
                 for im in images]  # fmt: skip
        size = (target, sum(im.height for im in parts) + gap * (len(parts) - 1))
    else:
        target = min(heights) if p["normalize"] == "match-shortest" else max(heights)
        parts = [ImageOps.contain(im, (10**6, target)) if im.height != target else im
                 for im in images]  # fmt: skip
        size = (sum(im.width for im in parts) + gap * (len(parts) - 1), target)
    sheet = Image.new("RGBA", size, _rgb(p["background"]) + (255,))
    at = 0
    for im in parts:
        sheet.alpha_composite(_rgba(im), (0, at) if vertical else (at, 0))
        at += (im.height if vertical else im.width) + gap
    return [sheet]


def _overlay(images: Images, p: dict[str, Any]) -> Images:
    base, top = _rgba(images[0]), _rgba(images[1])
    w, h = base.size
    box = (max(1, round(w * p["size"]["x"])), max(1, round(h * p["size"]["y"])))
    top = ImageOps.contain(top, box)
    if p["rotation"]:
        top = top.rotate(-p["rotation"], expand=True, resample=Image.Resampling.BICUBIC)
    alpha = top.getchannel("A").point(lambda a: round(a * p["opacity"] / 100))
    top.putalpha(alpha)
    x = round(w * p["center"]["x"] - top.width / 2)
    y = round(h * p["center"]["y"] - top.height / 2)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    layer.paste(top, (x, y), top)
    return [Image.alpha_composite(base, layer)]


def _add_text(images: Images, p: dict[str, Any]) -> Images:
    image = _rgba(images[0])
    if not p.get("text"):
        raise ActionInputError("params.text", "Required: the text to draw")
    from PIL import ImageFont

    font = ImageFont.load_default(size=p["font_size"])
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    x, y = image.width * p["center"]["x"], image.height * p["center"]["y"]
    alpha = round(255 * p["opacity"] / 100)
    if p["shadow"]:
        offset = max(1, p["font_size"] // 15)
        shadow = (x + offset, y + offset)
        draw.text(shadow, p["text"], font=font, fill=(0, 0, 0, alpha), anchor="mm")
    draw.text((x, y), p["text"], font=font, fill=_rgb(p["color"]) + (alpha,), anchor="mm")
    return [Image.alpha_composite(image, layer)]


def _resize(images: Images, p: dict[str, Any]) -> Images:
    image = images[0]
    w, h = image.size
    if p["mode"] == "percent":
        scale = p["percent"] / 100
        return [image.resize((max(1, round(w * scale)), max(1, round(h * scale))))]
    if p["mode"] == "longest":
        scale = p["longest"] / max(w, h)
        return [image.resize((max(1, round(w * scale)), max(1, round(h * scale))))]
    size = (int(p.get("width") or w), int(p.get("height") or h))
    if p["fit"] == "stretch":
        return [image.resize(size)]
    if p["fit"] == "cover":
        return [ImageOps.fit(image, size)]
    return [ImageOps.pad(image.convert("RGB"), size, color=_rgb(p["bg_color"]))]


# ---------------------------------------------------------------- text actions


def _split_text(texts: Texts, p: dict[str, Any]) -> Texts:
    text = texts[0]
    mode = p["split_mode"]
    if mode == "paragraph":
        parts = re.split(r"\n\s*\n", text)
    elif mode == "lines":
        lines = text.splitlines()
        step = int(p["lines_per_part"])
        parts = ["\n".join(lines[i : i + step]) for i in range(0, len(lines), step)]
    else:
        parts = text.split(p["separator"].replace("\\n", "\n"))
    if p["trim_parts"]:
        parts = [part.strip() for part in parts]
    if p["skip_empty"]:
        parts = [part for part in parts if part]
    return parts[: int(p["max_parts"])] or [""]


def _find_replace(texts: Texts, p: dict[str, Any]) -> Texts:
    if not p.get("find"):
        raise ActionInputError("params.find", "Required: the text to find")
    pattern = re.escape(p["find"])
    if p["whole_word"]:
        pattern = rf"\b{pattern}\b"
    flags = 0 if p["case_sensitive"] else re.IGNORECASE
    count = 0 if p["replace_all"] else 1
    return [re.sub(pattern, lambda _m: p["replace"], texts[0], count=count, flags=flags)]


def _concat(texts: Texts, p: dict[str, Any]) -> Texts:
    parts = [t.strip() for t in texts] if p["trim_parts"] else list(texts)
    if p["skip_empty"]:
        parts = [t for t in parts if t]
    joined = p["separator"].replace("\\n", "\n").join(parts)
    return [p["prefix"] + joined + p["suffix"]]


# ---------------------------------------------------------------- the catalog

_POINT_CENTER = Param("center", "point", "Center", {"x": 0.5, "y": 0.5})
_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9")


def _num(key: str, label: str, default: float, lo: float, hi: float) -> Param:
    return Param(key, "number", label, default, min=lo, max=hi)


CATALOG: tuple[Action, ...] = (
    Action("color-grade-image-browser", "Color Grade", "Adjust brightness, contrast, "
           "saturation, hue, warmth and tint of an image.", "image", (
               _num("brightness", "Brightness", 0, -100, 100),
               _num("contrast", "Contrast", 0, -100, 100),
               _num("saturation", "Saturation", 0, -100, 100),
               _num("hue_shift", "Hue Shift (deg)", 0, -180, 180),
               _num("warmth", "Warmth", 0, -100, 100),
               _num("tint", "Tint (Green-Magenta)", 0, -100, 100),
           ), _color_grade),
    Action("overlay-image-browser", "Overlay Image", "Place the second image over the first, "
           "scaled into a box, with an opacity.", "image", (
               _POINT_CENTER,
               Param("size", "point", "Size", {"x": 0.5, "y": 0.5}),
               _num("opacity", "Opacity", 100, 0, 100),
               _num("rotation", "Rotation (deg)", 0, -360, 360),
           ), _overlay, min_inputs=2, max_inputs=2),
    Action("crop-image-browser", "Crop Image", "Crop a box (center and size as fractions of the "
           "image) out of an image, optionally rotated first.", "image", (
               _POINT_CENTER,
               Param("size", "point", "Size", {"x": 1.0, "y": 1.0}),
               _num("rotation", "Rotation (deg)", 0, -360, 360),
           ), _crop),
    Action("blur-image-browser", "Blur Image", "Gaussian blur of the whole image.", "image", (
        _num("radius", "Radius", 8, 0, 100),
    ), _blur),
    Action("change-image-ar-browser", "Change Aspect Ratio", "Crop or pad an image to another "
           "aspect ratio; padding is a solid colour or a blurred copy.", "image", (
               Param("aspect_ratio", "select", "Aspect Ratio", "1:1", _RATIOS),
               Param("fit", "select", "Fit", "pad", ("crop", "pad")),
               Param("background_mode", "select", "Background", "solid", ("solid", "blur")),
               Param("pad_color", "color", "Pad Color", "#000000"),
               _num("blur_amount", "Blur Amount", 20, 0, 100),
           ), _change_ar),
    Action("rotate-image-browser", "Rotate / Flip Image", "Rotate an image clockwise and/or flip "
           "it horizontally or vertically.", "image", (
               _num("angle", "Angle (°, clockwise)", 90, -360, 360),
               Param("direction", "select", "Flip", "none",
                     ("none", "horizontal", "vertical", "both")),
               Param("canvas_mode", "select", "Canvas", "expand", ("shrink", "keep", "expand")),
               Param("background", "color", "Background Color", "#000000"),
               Param("transparent", "boolean", "Transparent Background", False),
           ), _rotate),
    Action("color-filter-image-browser", "Color Filter", "Sepia, posterize, solarize or "
           "black-and-white threshold (grayscale when no filter param is given).", "image", (
               Param("sepia_warmth", "number", "Warmth", min=0, max=100),
               Param("posterize_bits", "number", "Bits per channel", min=1, max=8),
               Param("solarize_threshold", "number", "Threshold", min=0, max=255),
               Param("bw_threshold", "number", "Threshold", min=0, max=255),
               Param("intensity", "number", "Intensity", min=0, max=100),
           ), _color_filter),
    Action("color-tint-image-browser", "Color Tint", "Tint an image with a colour.", "image", (
        Param("color", "color", "Tint Color", "#ff8800"),
        _num("intensity", "Intensity", 50, 0, 100),
        Param("blend_mode", "select", "Blend Mode", "color",
              ("multiply", "screen", "overlay", "soft_light", "color")),
    ), _tint),
    Action("duplicate-image-browser", "Duplicate Image", "Copies of an image, one output each.",
           "image", (_num("count", "Copies", 2, 1, 10),), _duplicate),
    Action("side-by-side-composite-browser", "Side by Side", "Put 2 to 4 images next to each "
           "other (or stacked), matched in size.", "image", (
               Param("layout", "select", "Layout", "auto",
                     ("auto", "horizontal-2", "horizontal-3", "vertical-2", "vertical-3")),
               _num("gap", "Gap (px)", 0, 0, 200),
               Param("background", "color", "Background", "#ffffff"),
               Param("normalize", "select", "Size Match", "match-shortest",
                     ("match-shortest", "match-largest")),
           ), _side_by_side, min_inputs=2, max_inputs=4),
    Action("add-text-to-image-browser", "Add Text", "Draw text on an image.", "image", (
        Param("text", "text", "Text"),
        Param("color", "color", "Text Color", "#ffffff"),
        _num("font_size", "Font Size (px)", 48, 4, 512),
        _POINT_CENTER,
        _num("opacity", "Opacity", 100, 0, 100),
        Param("shadow", "boolean", "Shadow", True),
    ), _add_text),
    Action("resize-image-browser", "Resize Image", "Resize to exact dimensions, a percentage, or "
           "a longest side.", "image", (
               Param("mode", "select", "Resize by", "percent", ("exact", "percent", "longest")),
               Param("width", "number", "Width (px)", min=1, max=8192),
               Param("height", "number", "Height (px)", min=1, max=8192),
               _num("percent", "Scale (%)", 50, 1, 800),
               _num("longest", "Longest Side (px)", 1024, 1, 8192),
               Param("fit", "select", "Fit", "contain", ("contain", "cover", "stretch")),
               Param("bg_color", "color", "Letterbox Color", "#000000"),
           ), _resize),
    Action("split-text-browser", "Split Text", "Split a text into parts, one output each.",
           "text", (
               Param("split_mode", "select", "Split Mode", "separator",
                     ("separator", "paragraph", "lines")),
               Param("separator", "text", "Separator", "\\n"),
               _num("lines_per_part", "Lines per Part", 1, 1, 1000),
               _num("max_parts", "Max Parts", 20, 1, 100),
               Param("trim_parts", "boolean", "Trim Whitespace", True),
               Param("skip_empty", "boolean", "Skip Empty Parts", True),
           ), _split_text, credits=0),
    Action("find-and-replace-text-browser", "Find and Replace", "Replace occurrences of a text.",
           "text", (
               Param("find", "text", "Find"),
               Param("replace", "text", "Replace With", ""),
               Param("case_sensitive", "boolean", "Case Sensitive", False),
               Param("replace_all", "boolean", "Replace All Occurrences", True),
               Param("whole_word", "boolean", "Whole Word Only", False),
           ), _find_replace, credits=0),
    Action("concat-text-browser", "Concatenate Text", "Join texts into one.", "text", (
        Param("separator", "text", "Separator", "\\n"),
        Param("prefix", "text", "Prefix", ""),
        Param("suffix", "text", "Suffix", ""),
        Param("trim_parts", "boolean", "Trim Each Part", False),
        Param("skip_empty", "boolean", "Skip Empty Parts", True),
    ), _concat, min_inputs=1, max_inputs=None, credits=0),
)  # fmt: skip

BY_ID: dict[str, Action] = {a.action_id: a for a in CATALOG}


def open_image(data: bytes, field: str) -> Image.Image:
    """The image in `data`, loaded; ActionInputError when it is not one Pillow can read."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ActionInputError(field, "The image is larger than 150 megapixels")
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ActionInputError(field, f"Is not an image this backend can read ({exc})") from None
    return image


def run_image_action(action: Action, inputs: list[bytes], params: dict[str, Any]) -> list[bytes]:
    """PNG bytes of each output of an image action."""
    images = [open_image(data, f"inputs[{i}]") for i, data in enumerate(inputs)]
    out = []
    for image in action.apply(images, params):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def run_text_action(action: Action, inputs: list[str], params: dict[str, Any]) -> list[str]:
    result: list[str] = action.apply(inputs, params)
    return result
