"""Drawing results on images: a box per face, its label, and a bar per class."""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gclenet.inference.recognizer import FacePrediction

__all__ = ["annotate", "CLASS_COLOURS"]

CLASS_COLOURS = {
    "angry": (220, 50, 47), "disgust": (133, 153, 0), "fear": (108, 113, 196), "happy": (255, 193, 7),
    "sad": (38, 139, 210), "surprise": (211, 54, 130), "neutral": (147, 161, 161), "contempt": (203, 75, 22),
}


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def annotate(image: np.ndarray, faces: list[FacePrediction], *, bars: bool = True) -> np.ndarray:
    """RGB ``image`` with each face boxed and labelled, plus a probability bar chart (faces
    followed over a video, with an ``id``, are captioned ``#id label``)."""
    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    scale = max(1.0, min(canvas.size) / 400)
    font = _font(int(12 * scale))
    for face in faces:
        x1, y1, x2, y2 = face.box
        colour = CLASS_COLOURS.get(face.label, (0, 200, 0))
        width = max(2, int(2 * scale))
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        caption = f"{face.label} {face.confidence:.0%}"
        if getattr(face, "id", None) is not None:
            caption = f"#{face.id} {caption}"
        tw, th = draw.textbbox((0, 0), caption, font=font)[2:]
        top = y1 - th - 4 if y1 - th - 4 >= 0 else y2
        draw.rectangle((x1, top, x1 + tw + 6, top + th + 4), fill=colour)
        draw.text((x1 + 3, top + 2), caption, fill=(0, 0, 0), font=font)
        if bars:
            _bars(canvas, draw, face, (x2 + 4 * scale, y1), scale)
    return np.asarray(canvas)


@functools.lru_cache(maxsize=16)
def _bar_panel(names: tuple[str, ...], scale: float) -> Image.Image:
    """The white panel with the class names, drawn once per class list and scale: on a
    video every frame draws it for every face, and rendering text was a quarter of the
    time of a 4-face frame (cProfile, benchmarks/bench_video.py)."""
    row, label_w, bar_w = 14 * scale, 56 * scale, 60 * scale
    panel = Image.new("RGB", (math.ceil(label_w + bar_w + 4 * scale) + 1, math.ceil(row * len(names) + 2) + 1),
                      (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    for i, name in enumerate(names):
        draw.text((2, i * row + 1), name, fill=(0, 0, 0), font=_font(int(12 * scale)))
    return panel


def _bars(canvas: Image.Image, draw: ImageDraw.ImageDraw, face: FacePrediction, origin: tuple[float, float],
          scale: float) -> None:
    row, label_w, bar_w = 14 * scale, 56 * scale, 60 * scale
    x, y = origin
    if x + label_w + bar_w > canvas.size[0]:  # no room on the right: draw inside the box's left edge
        x = max(0.0, face.box[0] - label_w - bar_w - 4 * scale)
    x, y = round(x), round(y)
    canvas.paste(_bar_panel(tuple(face.probs), scale), (x, y))
    for i, (name, p) in enumerate(face.probs.items()):
        top = y + i * row + 1
        draw.rectangle((x + label_w, top + 2, x + label_w + bar_w * p, top + row - 2),
                       fill=CLASS_COLOURS.get(name, (0, 150, 0)))
