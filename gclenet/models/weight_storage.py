"""How weights are stored in a file: weight-only int8 with per-output-channel scales.

A storage codec, not a deploy engine: the tensors are read back as float32 before any
model runs. (The int8 *inference* model, ONNX Runtime static quantisation of weights and
activations, is :mod:`gclenet.inference.quantize`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["to_int8_storage", "from_int8_storage", "SCALE_SUFFIX"]

# Weight-only int8 files (``weights_bytes(..., int8=True)``): a large weight ``W`` is stored
# as int8 ``Q`` plus ``W::scale``, one float32 scale per output channel (dim 0), and read
# back as ``Q * scale``. Half the size of fp16: what lets a second set of weights ship in
# the wheel (docs/BENCHMARKS.md, the shipped `fer2013` weights). Per output channel, because
# batch-norm folding
# multiplies each output channel by its own factor, which such scales absorb exactly.
SCALE_SUFFIX = "::scale"
_INT8_MIN_ELEMENTS = 4096  # smaller tensors (biases, norms) stay fp16: they weigh nothing


def to_int8_storage(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Weights of at least two dimensions as symmetric int8 with per-output-channel scales."""
    import torch

    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not value.is_floating_point() or value.ndim < 2 or value.numel() < _INT8_MIN_ELEMENTS:
            out[key] = value
            continue
        weight = value.float()
        peak = weight.abs().amax(dim=tuple(range(1, weight.ndim)))
        scale = torch.where(peak > 0, peak / 127, torch.ones_like(peak))
        shape = (-1,) + (1,) * (weight.ndim - 1)
        out[key] = torch.round(weight / scale.view(shape)).clamp_(-127, 127).to(torch.int8)
        out[key + SCALE_SUFFIX] = scale
    return out


def from_int8_storage(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float32 weights of :func:`to_int8_storage`'s output; other state dicts pass unchanged."""
    scales = {key[: -len(SCALE_SUFFIX)]: value for key, value in state.items() if key.endswith(SCALE_SUFFIX)}
    if not scales:
        return state
    out = {k: v for k, v in state.items() if not k.endswith(SCALE_SUFFIX)}
    for key, scale in scales.items():
        shape = (-1,) + (1,) * (out[key].ndim - 1)
        out[key] = out[key].float() * scale.float().view(shape)
    return out
