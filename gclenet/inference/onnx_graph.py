"""The fp32 engine without torch: an ONNX graph that ships without weights, filled at load
from the ``.safetensors`` file beside it.

``backend="auto"`` trusts a faster engine (int8) only after checking it against an fp32
reference on this machine (:mod:`gclenet.inference.selfcheck`), and falls back to fp32
where the check fails (ONNX Runtime's U8S8 kernels saturate on AVX2-only CPUs). Where
torch is not installed (``pip install gclenet``, the core), that fp32 engine is this one:

* ``<weights stem>.graph.onnx`` is the *training* form of the network (not
  re-parameterised) exported in eval mode, so its initializers keep the state-dict names
  of the weights file; every tensor but the 0-d ones (ONNX Runtime cannot replace those
  as external data) is marked as external data in a file that does not exist, so the
  graph weighs a few hundred kB instead of the 44 MB of the weights shipped anyway;
* at load, the weights are read with NumPy (fp16 to fp32, the weight-only int8 codec of
  :func:`gclenet.models.weights.quantize_weights` undone) and handed to ONNX Runtime with
  ``SessionOptions.add_external_initializers`` (``add_initializer`` for the 0-d ones).
  ONNX Runtime folds the batch norms into the convolutions itself when it builds the session.

Its outputs equal eager PyTorch fp32's to about 1e-6 (tests/inference/test_onnx_graph.py).
The graphs are written by :func:`gclenet.inference.export.export_onnx_graph` (torch and
onnx needed there, not here). This module imports no torch and no onnx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gclenet.models.weights import SCALE_SUFFIX, resolve_weights

__all__ = ["GRAPH_SUFFIX", "GRAPH_KEY", "MISSING_DATA", "graph_path_for", "is_graph", "numpy_state",
           "fill_session_options"]

GRAPH_SUFFIX = ".graph.onnx"
GRAPH_KEY = "gclenet_graph"  # ONNX metadata: the graph holds no weights; the value names the weights file
# Where the graph says its tensors' data lie: nowhere. A session built without filling them
# fails at once ("External data path does not exist") instead of reading another file's bytes.
MISSING_DATA = "filled-at-load-from-the-safetensors-weights"


def graph_path_for(weights: str | Path) -> Path:
    """Where the weightless fp32 graph of ``weights`` is looked for: beside them, ``<stem>.graph.onnx``."""
    path = resolve_weights(weights)
    return path.with_name(f"{path.stem}{GRAPH_SUFFIX}")


def is_graph(path: str | Path) -> bool:
    """Whether ``path`` names a weightless graph (filled from the weights at load)."""
    return Path(path).name.endswith(GRAPH_SUFFIX)


def numpy_state(weights: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` weights file as contiguous float32 NumPy arrays (no torch):
    fp16 widened, int8-coded weights multiplied back by their per-output-channel scales."""
    from safetensors import safe_open

    path = resolve_weights(weights)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: the ONNX graph is filled from .safetensors weights only")
    with safe_open(str(path), "np") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    scales = {key[: -len(SCALE_SUFFIX)]: tensors.pop(key) for key in list(tensors) if key.endswith(SCALE_SUFFIX)}
    for key, scale in scales.items():  # as dequantize_weights does it in torch: Q * scale, per dim 0
        value = tensors[key]
        tensors[key] = value.astype(np.float32) * scale.astype(np.float32).reshape((-1,) + (1,) * (value.ndim - 1))
    # np.asarray, not np.ascontiguousarray: that one makes 0-d tensors 1-d (then they fit no initializer)
    return {key: np.asarray(value, dtype=np.float32 if np.issubdtype(value.dtype, np.floating) else None, order="C")
            for key, value in tensors.items()}


def fill_session_options(options: Any, state: dict[str, np.ndarray]) -> list[Any]:
    """Hand ``state``'s tensors to an ``onnxruntime.SessionOptions`` as the graph's initializers.

    Returns the ``OrtValue`` objects, which the caller keeps as long as the session lives:
    ONNX Runtime uses their memory without copying it (dropping them crashes or corrupts
    the session: the first try here failed with "dimensions do not match").
    """
    import onnxruntime as ort

    values = {key: ort.OrtValue.ortvalue_from_numpy(array) for key, array in state.items()}
    external = [key for key, array in state.items() if array.ndim > 0]
    options.add_external_initializers(external, [values[key] for key in external])
    for key, array in state.items():
        if array.ndim == 0:  # kept inline in the graph (see the module's docstring); overridden here
            options.add_initializer(key, values[key])
    return list(values.values())
