"""What the machine is fast at (kept free of heavy imports: inference uses it too)."""

from __future__ import annotations

import torch

__all__ = ["fast_bf16_available", "resolve_precision"]


def fast_bf16_available(device: str = "auto") -> bool:
    """bf16 autocast pays off on ``device``: a CUDA GPU with bf16 in hardware (not the
    emulation of pre-Ampere GPUs), or a CPU with AMX / AVX-512 BF16. ``"auto"`` (and
    Lightning's ``"gpu"``) means CUDA when there is one, else the CPU."""
    if not str(device).startswith("cpu") and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """Lightning precision for ``"auto"`` on ``accelerator``: emulated bf16 is several times
    slower than fp32 (7-9x on an AVX2 CPU, docs/BENCHMARKS.md), so bf16 only where the
    hardware has it."""
    if precision == "auto":
        return "bf16-mixed" if fast_bf16_available(accelerator) else "32-true"
    return precision
