"""Training throughput (images/s of SGD steps) of variants side by side, on random data.

    python benchmarks/bench_training.py --size 48 --batch 64 --variants resnet34 gclenet
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from gclenet.models import create_model
from gclenet.hardware import fast_bf16_available


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=["resnet34", "gclenet"])
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (fast only with AMX / AVX-512 BF16)")
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


if __name__ == "__main__":
    main()
