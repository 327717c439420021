"""The annotated picture: a box in the label's colour and one bar per class, as long as its probability."""

from __future__ import annotations

import numpy as np

from gclenet.inference.annotate import CLASS_COLOURS, annotate
from gclenet.inference.recognizer import FacePrediction

CLASSES = ("angry", "happy", "sad")


def _face(probs: dict[str, float]) -> FacePrediction:
    return FacePrediction(box=[50.0, 50.0, 150.0, 150.0], score=1.0, label=max(probs, key=probs.get), probs=probs)


def _bar_lengths(image: np.ndarray) -> dict[str, int]:
    """Pixels of each class's colour in the row through the middle of its bar (scale 1: 14-px rows)."""
    x0, y0 = 150 + 4, 50  # the panel starts right of the box, at its top
    out = {}
    for i, name in enumerate(CLASSES):
        row = image[int(y0 + i * 14 + 8), x0:]
        out[name] = int((row == CLASS_COLOURS[name]).all(axis=1).sum())
    return out


def test_bars_follow_the_probabilities_and_the_labels_are_drawn():
    image = np.full((300, 400, 3), 90, dtype=np.uint8)
    drawn = annotate(image, [_face({"angry": 0.0, "happy": 0.75, "sad": 0.25})])
    lengths = _bar_lengths(drawn)
    assert lengths["angry"] <= 1 and 40 <= lengths["happy"] <= 48 and 12 <= lengths["sad"] <= 18
    assert (drawn[50, 50] == CLASS_COLOURS["happy"]).all()  # the box's outline, in the label's colour
    panel = drawn[50:92, 154:210]  # the class names: dark text on the white panel
    assert (panel < 60).all(axis=2).sum() > 50 and (panel == 255).all(axis=2).mean() > 0.5


def test_a_second_face_is_drawn_with_its_own_bars():
    image = np.full((300, 400, 3), 90, dtype=np.uint8)
    first = annotate(image, [_face({"angry": 0.0, "happy": 1.0, "sad": 0.0})])
    second = annotate(image, [_face({"angry": 0.0, "happy": 0.0, "sad": 1.0})])  # the panel is cached, bars are not
    assert _bar_lengths(first)["happy"] > 55 and _bar_lengths(first)["sad"] <= 1
    assert _bar_lengths(second)["sad"] > 55 and _bar_lengths(second)["happy"] <= 1
    assert (image == 90).all()  # the input is not drawn on
