"""The classifier's input from face crops, in NumPy (no torch needed).

The same arithmetic as :meth:`gclenet.inference.recognizer.Recognizer._preprocess`
(a test holds the two equal), so that ONNX Runtime paths (the int8 calibration, the
backend benchmark) can prepare faces without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["preprocess_faces"]


def preprocess_faces(crops: Sequence[np.ndarray], info: dict[str, Any]) -> np.ndarray:
    """Face crops (RGB or gray uint8 arrays) as a normalised ``(N, 3, S, S)`` float32 batch.

    Args:
        crops: already-cropped faces; any size, resized (stretched) to the input size.
        info: the weights' metadata: ``input_size``, ``mean``, ``std``, ``grayscale``.

    Returns:
        A C-contiguous float32 array, what ONNX Runtime takes as the model input.
    """
    size = int(info["input_size"])
    mode = "L" if info.get("grayscale", False) else "RGB"
    arrays = [np.asarray(Image.fromarray(c).convert(mode).resize((size, size), Image.BILINEAR)) for c in crops]
    batch = np.stack(arrays).astype(np.float32) / np.float32(255)
    # NHWC (or NHW for gray, repeated into 3 channels as the RGB-trained stem expects)
    batch = np.repeat(batch[:, None], 3, axis=1) if mode == "L" else batch.transpose(0, 3, 1, 2)
    mean = np.asarray(info["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(info["std"], dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((batch - mean) / std)
