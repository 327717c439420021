"""Training throughput (images/s of SGD steps) of variants side by side, on random data.

    python benchmarks/bench_training.py --size 48 --batch 64 --variants resnet34 gclenet [--bf16] [--profile]

``--profile`` adds the per-module cost of one training step of ``gclenet``: each part's
forward and backward timed on its own real input (captured from a forward pass).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from gclenet.hardware import fast_bf16_available
from gclenet.models import create_model


def _forward_backward_ms(fn, inputs: torch.Tensor | None, steps: int, bf16: bool) -> float:
    """Median ms of ``fn(inputs)`` plus its backward (to the parameters and ``inputs``)."""
    times = []
    for i in range(steps + 1):
        if inputs is not None:
            inputs.grad = None
        start = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = fn(inputs)
        out.float().sum().backward()
        if i:  # the first call warms up
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def training_step_profile(size: int, batch: int, steps: int, bf16: bool) -> dict[str, float]:
    """Milliseconds per batch of forward + backward of each part of a training-mode ``gclenet``."""
    model = create_model("gclenet").train().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,))
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        stem = model.forward_stem(x).float()
        scales = model.mgc.scales(stem).float()
        fused = model.forward_fusion(stem).float()
    acmix = model.mgc.mixer

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.detach().requires_grad_()

    def conv_path(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(t, *acmix.conv_path_weight(), padding=acmix.conv_shift.padding)

    def body(t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model.forward_head(model.layer4(model.layer3(model.layer2(model.layer1(t))))), y)

    parts = {
        "stem (conv1, bn, relu, maxpool)": (lambda _: model.forward_stem(x), None),
        "LFA (8 asymmetric conv blocks, unfused)": (model.lfa, leaf(stem)),
        "MGC multi-scale convs": (model.mgc.scales, leaf(stem)),
        "MGC attention (q/k/v + window attention)": (acmix.attention, leaf(scales)),
        "MGC convolution path (composed 3x3)": (conv_path, leaf(scales)),
        "body (layer1-4, head, loss)": (body, leaf(fused)),
        "whole model + loss": (lambda _: F.cross_entropy(model(x), y), None),
    }
    profile = {name: _forward_backward_ms(fn, inputs, steps, bf16) for name, (fn, inputs) in parts.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    profile["optimizer step (SGD, momentum)"] = 1000 * (time.perf_counter() - start) / steps
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=["resnet34", "gclenet"])
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (fast only with AMX / AVX-512 BF16)")
    parser.add_argument("--profile", action="store_true", help="also time each part of a gclenet training step")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fast bf16: {fast_bf16_available()}")
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (args.batch,))
    steps = {}
    for name in args.variants:
        model = create_model(name).train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, optimizer=optimizer) -> None:
            with torch.autocast("cpu", torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()
        steps[name] = step
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):  # round-robin, so drift hits every model alike
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - start) / args.steps)
    base = statistics.median(times[args.variants[0]])
    print(f"{args.size}x{args.size}, batch {args.batch}, {'bf16' if args.bf16 else 'fp32'}: training images/s")
    for name, t in times.items():
        median = statistics.median(t)
        print(f"  {name:<30}{args.batch / median:>8.1f}  {base / median:.2f}x")
    if args.profile:
        print("per-module time of one gclenet training step (forward + backward, ms per batch)")
        for name, ms in training_step_profile(args.size, args.batch, args.steps, args.bf16).items():
            print(f"  {name:<45}{ms:>9.1f}")


if __name__ == "__main__":
    main()
