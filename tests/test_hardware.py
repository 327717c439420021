"""precision "auto": bf16 only where the device the work runs on has it in hardware."""

import torch

from gclenet.hardware import fast_bf16_available, resolve_precision


def fake_machine(monkeypatch, *, cuda: bool, cuda_bf16_hardware: bool, cpu_amx: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    # the emulating answer would be True on any recent GPU; only the hardware answer counts
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: cuda_bf16_hardware or including_emulation)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: cpu_amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)


def test_a_gpu_that_only_emulates_bf16_trains_in_fp32(monkeypatch):
    fake_machine(monkeypatch, cuda=True, cuda_bf16_hardware=False, cpu_amx=False)  # e.g. a V100 or T4
    assert resolve_precision("auto") == "32-true" and not fast_bf16_available("cuda")


def test_the_accelerator_chosen_decides_not_the_gpu_next_to_it(monkeypatch):
    fake_machine(monkeypatch, cuda=True, cuda_bf16_hardware=True, cpu_amx=False)
    assert resolve_precision("auto", "gpu") == "bf16-mixed"
    assert resolve_precision("auto", "cpu") == "32-true"  # an AVX2 CPU beside an A100
    fake_machine(monkeypatch, cuda=False, cuda_bf16_hardware=False, cpu_amx=True)
    assert resolve_precision("auto") == "bf16-mixed" and fast_bf16_available("cpu")
    assert resolve_precision("32-true", "cpu") == "32-true"
