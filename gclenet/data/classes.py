"""The canonical expression classes every data set is mapped onto.

Order (index = label everywhere in gclenet): angry, disgust, fear, happy, sad,
surprise, neutral, then contempt for the data sets that have it (CK+, AffectNet-8).
This is FER2013's order, so its labels need no remapping; RAF-DB, CK+ and AffectNet
are mapped by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["CANONICAL_CLASSES", "BASIC_CLASSES", "canonical_name", "class_list"]

CANONICAL_CLASSES: tuple[str, ...] = (
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt",
)
BASIC_CLASSES: tuple[str, ...] = CANONICAL_CLASSES[:7]

_ALIASES = {
    "anger": "angry", "angry": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "calm": "neutral",
    "contempt": "contempt",
}


def canonical_name(name: str) -> str:
    """Canonical class for a data set's folder or label name (``"Sadness"`` -> ``"sad"``).

    Raises:
        KeyError: the name is not an expression we know.
    """
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in _ALIASES:
        raise KeyError(f"unknown expression class {name!r}; known: {', '.join(sorted(set(_ALIASES)))}")
    return _ALIASES[key]


def class_list(names: Iterable[str] | None = None, *, contempt: bool = False) -> tuple[str, ...]:
    """The class list of a task: the 7 basic classes (+ contempt), or a custom list.

    Custom lists (fine-tuning on your own classes) keep their order; known expression
    names are canonicalised, others are kept as given.
    """
    if names is None:
        return CANONICAL_CLASSES if contempt else BASIC_CLASSES
    out: list[str] = []
    for name in names:
        try:
            name = canonical_name(name)
        except KeyError:
            pass
        if name in out:
            raise ValueError(f"class {name!r} appears twice in the class list")
        out.append(name)
    return tuple(out)


def index_of(classes: Sequence[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(classes)}
