"""What the machine is fast at, asked without importing torch where the OS can tell
(inference's ONNX Runtime path never loads torch); torch is imported only to ask it."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import sys
from pathlib import Path

__all__ = ["fast_bf16_available", "resolve_precision", "cpu_flags", "cpu_name", "cuda_available", "describe_cpu"]


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where the OS does not list them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``platform.processor()`` is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_cpu() -> str:
    """Name, cores and the instruction sets int8 and bf16 inference use, in one line."""
    flags = cpu_flags()
    known = [name for flag, name in (("amx_int8", "AMX int8"), ("amx_bf16", "AMX bf16"),
                                     ("avx512_vnni", "AVX-512 VNNI"), ("avx512_bf16", "AVX-512 BF16"),
                                     ("avx_vnni", "AVX-VNNI"), ("avx2", "AVX2")) if flag in flags]
    return f"{cpu_name()}, {os.cpu_count()} CPUs" + (f" ({', '.join(known)})" if known else "")


def cuda_available() -> bool:
    """A CUDA GPU torch can use. torch is imported only where a GPU driver is installed (or
    torch is loaded already): on a machine without one the answer costs no torch import.
    Without torch (the core install) there is none to use: inference runs on ONNX Runtime's CPU."""
    from importlib.util import find_spec

    if find_spec("torch") is None:
        return False
    if "torch" not in sys.modules:
        driver = Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
        if not driver:
            return False
    import torch

    return torch.cuda.is_available()


def _cpu_has_fast_bf16() -> bool:
    """torch's answer where torch is loaded; else the CPU flags torch checks, where the OS lists them."""
    if "torch" not in sys.modules:
        if platform.machine().lower() in ("arm64", "aarch64"):
            return False  # torch's AMX / AVX-512 BF16 checks are x86 ones
        if cpu_flags():
            return bool({"amx_tile", "avx512_bf16"} & cpu_flags())
    import torch

    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def fast_bf16_available(device: str = "auto") -> bool:
    """bf16 autocast pays off on ``device``: a CUDA GPU with bf16 in hardware (not the
    emulation of pre-Ampere GPUs), or a CPU with AMX / AVX-512 BF16. ``"auto"`` (and
    Lightning's ``"gpu"``) means CUDA when there is one, else the CPU."""
    if not str(device).startswith("cpu") and cuda_available():
        import torch

        return torch.cuda.is_bf16_supported(including_emulation=False)
    return _cpu_has_fast_bf16()


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """Lightning precision for ``"auto"`` on ``accelerator``: emulated bf16 is several times
    slower than fp32 (7-9x on an AVX2 CPU, docs/BENCHMARKS.md), so bf16 only where the
    hardware has it."""
    if precision == "auto":
        return "bf16-mixed" if fast_bf16_available(accelerator) else "32-true"
    return precision
