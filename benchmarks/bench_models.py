"""Deploy-mode inference throughput of every variant, as a ratio to plain ResNet-34.

Models are timed round-robin (ResNet-34, variant, ResNet-34, variant, ...) in one
process so the ratio is immune to the machine's drift; each figure is the median over
rounds. Also prints a per-module time profile of the full model.

    python benchmarks/bench_models.py                      # everything (slow on 2 cores)
    python benchmarks/bench_models.py --variants gclenet --dtypes fp32 --rounds 3
    python benchmarks/bench_models.py --variants gclenet_lfa gclenet --unfused --dtypes fp32   # fused vs not
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gclenet.models import create_model, list_models, reparameterize_model
from gclenet.fileio import atomic_write_bytes
from gclenet.hardware import fast_bf16_available

SETTINGS = {224: 32, 112: 64}  # input size -> batch


def _timed(fn: Callable[[], object], iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def _runner(model: nn.Module, x: Tensor, dtype: str) -> Callable[[], Tensor]:
    def run() -> Tensor:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=dtype == "bf16"):
            return model(x)

    return run


def throughput(variants: list[str], size: int, batch: int, dtype: str, rounds: int, iters: int,
               unfused: bool = False) -> dict[str, float]:
    """Images/s per variant (deploy form); with ``unfused`` also each variant before
    ``reparameterize_model``, as "<name> (unfused)"."""
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    runners = {}
    for name in ["resnet34", *[v for v in variants if v != "resnet34"]]:
        model = create_model(name).eval()
        forms = {name: reparameterize_model(model)}
        if unfused and name != "resnet34":
            forms[f"{name} (unfused)"] = model
        for label, form in forms.items():
            runners[label] = _runner(form.to(memory_format=torch.channels_last), x, dtype)
            runners[label]()  # warm-up: oneDNN primitive creation
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times[name].append(_timed(run, iters))
    return {name: batch / statistics.median(t) for name, t in times.items()}


@torch.inference_mode()
def module_profile(size: int, batch: int, dtype: str, iters: int) -> dict[str, float]:
    """Milliseconds per batch spent in each part of the deploy ``gclenet``."""
    model = reparameterize_model(create_model("gclenet")).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    acmix = model.mgc.mixer
    with torch.autocast("cpu", torch.bfloat16, enabled=dtype == "bf16"):
        stem = model.forward_stem(x)
        scales = model.mgc.scales(stem)
        fused = model.forward_fusion(stem)
        parts = {
            "stem": lambda: model.forward_stem(x),
            "LFA": lambda: model.lfa(stem),
            "MGC multi-scale": lambda: model.mgc.scales(stem),
            "MGC attention (incl. q/k/v)": lambda: acmix.attention(scales),
            "MGC convolution path": lambda: acmix.reparam_conv(scales),
            "body (layer1-4, head)": lambda: model.forward_head(model.layer4(model.layer3(model.layer2(model.layer1(fused))))),
            "whole model": lambda: model(x),
        }
        for fn in parts.values():
            fn()
        return {name: 1000 * _timed(fn, iters) for name, fn in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=list_models())
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SETTINGS))
    parser.add_argument("--dtypes", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--unfused", action="store_true", help="also time each variant before re-parameterisation")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-module profile")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, fast bf16: {fast_bf16_available()}")
    results = {"throughput": [], "profile": {}}
    for size in args.sizes:
        batch = SETTINGS.get(size, 32)
        for dtype in args.dtypes:
            rounds = args.rounds if dtype == "fp32" or fast_bf16_available() else max(1, args.rounds // 2)
            ips = throughput(args.variants, size, batch, dtype, rounds, args.iters, unfused=args.unfused)
            print(f"\n{size}x{size}, batch {batch}, {dtype}: images/s (ratio to resnet34)")
            for name, value in ips.items():
                ratio = value / ips["resnet34"]
                print(f"  {name:<30}{value:>8.1f}  {ratio:.2f}x")
                results["throughput"].append(dict(size=size, batch=batch, dtype=dtype, variant=name,
                                                  images_per_s=value, ratio=ratio))
    for dtype in [] if args.no_profile else args.dtypes:
        size = max(args.sizes)
        profile = module_profile(size, SETTINGS.get(size, 32), dtype, args.iters)
        results["profile"][dtype] = profile
        print(f"\nper-module time of deploy gclenet, {size}x{size}, batch {SETTINGS.get(size, 32)}, {dtype} (ms)")
        for name, ms in profile.items():
            print(f"  {name:<30}{ms:>9.1f}")
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))


if __name__ == "__main__":
    main()
