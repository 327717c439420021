"""What the machine is fast at (kept free of heavy imports: inference uses it too)."""

from __future__ import annotations

import torch

__all__ = ["fast_bf16_available", "resolve_precision"]


def fast_bf16_available() -> bool:
    """bf16 autocast pays off: a CUDA GPU with bf16, or a CPU with AMX / AVX-512 BF16."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def resolve_precision(precision: str) -> str:
    """Lightning precision for ``"auto"``: emulated bf16 is several times slower than fp32
    (measured 5-7x on an AVX2 CPU), so bf16 only where the hardware has it."""
    if precision == "auto":
        return "bf16-mixed" if fast_bf16_available() else "32-true"
    return precision
