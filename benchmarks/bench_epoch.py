"""Where a training epoch's time goes: data loading, augmentation, the model step.

Builds the training loader of a config exactly as `gclenet train` does and times, per
batch: drawing the batch from the loader (decode cache, per-image resize, collation),
the batch augmentation, and forward + backward + SGD step of the model under the
config's precision; beside it, the per-image torchvision augmentation the project
used before (RandomResizedCrop, flip, rotation, colour jitter, erasing per image) on
the same images, for the ratio.

    python benchmarks/bench_epoch.py --config configs/ferplus_cpu.yaml --batches 20 [data.input_size=48 ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.transforms import v2

from gclenet.hardware import resolve_precision
from gclenet.training.config import load_config
from gclenet.training.datamodule import FERDataModule
from gclenet.training.module import FERClassifier


def per_image_augmentation(input_size: int, augment, mean, std) -> v2.Compose:
    """The former training transform: torchvision v2, one image at a time."""
    return v2.Compose([
        v2.RandomResizedCrop(input_size, scale=(min(augment.crop_scale[0], 1.0), 1.0), ratio=(0.9, 1.1),
                             antialias=True),
        v2.RandomHorizontalFlip(), v2.RandomRotation(augment.rotation),
        v2.ColorJitter(brightness=augment.brightness, contrast=augment.contrast),
        v2.ToDtype(torch.float32, scale=True), v2.Lambda(lambda x: x.expand(3, -1, -1)), v2.Normalize(mean, std),
        v2.RandomErasing(p=augment.erasing, scale=(0.02, 0.2), value=0),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("overrides", nargs="*", help="key.sub=value, as for gclenet train")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    datamodule = FERDataModule(config.data, seed=config.seed)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    module = FERClassifier(config, datamodule.classes)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    bf16 = resolve_precision(config.trainer.precision) == "bf16-mixed"
    old_transform = per_image_augmentation(config.data.input_size, config.data.augment, datamodule.augment.mean.flatten().tolist(),
                                           datamodule.augment.std.flatten().tolist())
    times: dict[str, list[float]] = {"load": [], "augment (batch)": [], "augment (per image, before)": [],
                                     "model step": []}
    iterator = iter(loader)
    for i in range(args.batches + 1):
        start = time.perf_counter()
        images, targets = next(iterator)
        loaded = time.perf_counter()
        batch = datamodule.augment(images)
        augmented = time.perf_counter()
        torch.stack([old_transform(image) for image in images])
        old_done = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = module.loss(module(batch), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stepped = time.perf_counter()
        if i:  # the first batch warms up
            for key, value in zip(times, (loaded - start, augmented - loaded, old_done - augmented, stepped - old_done)):
                times[key].append(value)
    size, batch_size = config.data.input_size, config.data.batch_size
    medians = {key: 1000 * statistics.median(values) for key, values in times.items()}
    now = medians["load"] + medians["augment (batch)"] + medians["model step"]
    before = medians["load"] + medians["augment (per image, before)"] + medians["model step"]
    print(f"{config.model.name}, {size}x{size}, batch {batch_size}, {'bf16' if bf16 else 'fp32'}, "
          f"{torch.get_num_threads()} threads; median ms per batch over {args.batches} batches")
    for key, value in medians.items():
        print(f"  {key:<30}{value:>9.1f}")
    print(f"  {'step with batch augmentation':<30}{now:>9.1f}  ({batch_size / now * 1000:.1f} images/s)")
    print(f"  {'step with per-image (before)':<30}{before:>9.1f}  ({batch_size / before * 1000:.1f} images/s)")
    print(f"  speed-up of a training step: {before / now:.2f}x; an epoch of {len(datamodule.train_set)} images: "
          f"{len(datamodule.train_set) / batch_size * now / 60000:.1f} min")


if __name__ == "__main__":
    main()
