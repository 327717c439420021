"""The LightningDataModule: the configured data set's training and validation sets and their loaders.

Which images a run trains and validates on is decided by :func:`select_samples`, which
``evaluate`` also asks, to refuse scoring a model on images it trained on.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from functools import partial

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, DistributedSampler

from gclenet.data import FERDataset, Sample, read_split
from gclenet.data.transforms import BatchAugment, build_train_transform
from gclenet.models import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from gclenet.training.config import DataConfig

__all__ = ["EpochSeededSampler", "FERDataModule", "select_samples", "LABEL_TARGETS"]

log = logging.getLogger(__name__)

# data.label_mode -> what the training set yields (FER+'s label modes; see gclenet.data.datasets.ferplus).
# Validation is always scored on the majority label, the literature's protocol.
LABEL_TARGETS = {"majority": "index", "probability": "sampled", "crossentropy": "distribution",
                 "multi_target": "distribution"}


def _read(config: DataConfig, split: str, classes: Sequence[str], *, train: bool, seed: int) -> list[Sample]:
    samples = read_split(config.dataset, config.root, split, classes, **config.reader_options(train=train))
    if train and config.max_train_images and len(samples) > config.max_train_images:
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))
        samples = [samples[i] for i in order[: config.max_train_images].tolist()]
    return samples


def _holdout(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(training, held-out) parts of the training split: a seeded ``fraction`` of its subjects
    where the reader knows them (no person on both sides), else of its images."""
    keys = sorted({s.subject for s in samples}) if all(s.subject for s in samples) else None
    count = len(keys) if keys is not None else len(samples)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = set(order[: max(1, round(fraction * count))])
    if keys is not None:
        held = {keys[i] for i in chosen}
        return [s for s in samples if s.subject not in held], [s for s in samples if s.subject in held]
    return ([s for i, s in enumerate(samples) if i not in chosen], [s for i, s in enumerate(samples) if i in chosen])


def select_samples(config: DataConfig, classes: Sequence[str], *, seed: int, train: bool) -> list[Sample]:
    """The images a run with ``config`` and ``seed`` trains on (``train``) or validates on."""
    if config.holdout_fraction:
        if not 0 < config.holdout_fraction < 1:
            raise ValueError(f"data.holdout_fraction must be between 0 and 1, got {config.holdout_fraction}")
        samples = _read(config, config.train_split, classes, train=True, seed=seed)
        return _holdout(samples, config.holdout_fraction, seed)[0 if train else 1]
    return _read(config, config.train_split if train else config.val_split, classes, train=train, seed=seed)


def _seed_generators(*key: int) -> None:
    """This process's torch (CPU and CUDA), numpy and Python generators, seeded from ``key``."""
    torch_seed, numpy_seed, python_seed = (int(s) for s in np.random.SeedSequence(list(key)).generate_state(3))
    torch.manual_seed(torch_seed)
    np.random.seed(numpy_seed)
    random.seed(python_seed)


class EpochSeededSampler(DistributedSampler):
    """The training sampler; each epoch's pass first reseeds this process's torch, numpy and
    Python generators from ``(seed, epoch, rank)``.

    Augmentation (drawn in this process when ``num_workers`` is 0) and dropout then differ
    between DDP ranks, which would otherwise repeat one another's draws, and continue after a
    resume on any device, CUDA included, exactly as without the stop. Reseeding here rather
    than in ``on_train_epoch_start`` puts it right before the epoch's first index on every
    path: Lightning creates the first epoch's (and a resumed epoch's) iterator before that hook,
    and with loader workers that iterator draws its first indices at once.
    """

    def __iter__(self) -> Iterator[int]:
        _seed_generators(self.seed, self.epoch, self.rank)
        return super().__iter__()


def _seed_worker(sampler: EpochSeededSampler, worker_id: int) -> None:
    """A loader worker's generators from ``(seed, epoch, rank, worker)``: the worker's
    augmentations do not depend on the main process's RNG, which a DDP resume restores
    from rank 0 on every rank."""
    _seed_generators(sampler.seed, sampler.epoch, sampler.rank, worker_id)


class FERDataModule(L.LightningDataModule):
    """Train/validation loaders of ``config.dataset`` under ``config.root``.

    The training order is a permutation drawn from ``(seed, epoch)`` (a
    ``DistributedSampler``, also with one process), so a resumed run sees the same
    batches as an uninterrupted one and DDP ranks split each epoch without overlap.
    """

    def __init__(self, config: DataConfig, seed: int = 0, *, transform: EvalTransform | None = None) -> None:
        """``transform``: the evaluation transform of the model being trained (its record's);
        by default the input size, decoding and normalisation of ``config``."""
        super().__init__()
        self.cfg = config
        self.seed = seed
        self.grayscale = config.decode_grayscale()
        self.classes = config.task_classes()
        if config.label_mode not in LABEL_TARGETS:
            raise ValueError(f"data.label_mode {config.label_mode!r}; valid: {', '.join(LABEL_TARGETS)}")
        self.transform = transform or EvalTransform(config.input_size, mean=config.mean or IMAGENET_MEAN,
                                                    std=config.std or IMAGENET_STD, grayscale=self.grayscale)
        self.augment = BatchAugment(config.augment, mean=self.transform.mean, std=self.transform.std)
        self.train_set: FERDataset | None = None
        self.val_set: FERDataset | None = None
        self._resumed_epoch = 0

    def _dataset(self, train: bool) -> FERDataset:
        samples = select_samples(self.cfg, self.classes, seed=self.seed, train=train)
        transform = build_train_transform(self.cfg.input_size) if train else self.transform
        dataset = FERDataset(samples, self.classes, transform, grayscale=self.grayscale, cache=self.cfg.cache,
                             target_kind=LABEL_TARGETS[self.cfg.label_mode] if train else "index")
        for line in dataset.skipped:
            log.warning("skipped unreadable image %s", line)
        return dataset

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset(train=True)
            missing = [name for name, n in self.train_set.class_counts().items() if n == 0]
            if missing:
                log.warning("no training images of class(es) %s in %s's %s split: those outputs will not be "
                            "learned; check the class folder names, data.classes or the options' class_map",
                            ", ".join(missing), self.cfg.dataset, self.cfg.train_split)
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset(train=False)

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int) -> tuple:
        """Training batches arrive as resized uint8 (evaluation ones normalised) and are
        augmented here, a batch at a time (on the GPU when there is one)."""
        images, targets = batch
        if images.dtype == torch.uint8:
            images = self.augment.to(images.device)(images)
        return images, targets

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    # Lightning (2.5.3 on; github.com/Lightning-AI/pytorch-lightning/issues/21938) creates a
    # resumed run's first training iterator before it tells the sampler the epoch, and with
    # loader workers that iterator draws its indices at once: the resumed epoch would replay
    # epoch 0's order and seeds. So the checkpoint carries the epoch a resumed run starts
    # with, and the sampler starts there.
    # (Strategies that restore after setup, FSDP and DeepSpeed, load it too late for this.)
    def state_dict(self) -> dict[str, int]:
        trainer = self.trainer
        if trainer is None:
            return {}
        ended = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch  # else a mid-epoch (e.g. SLURM) save
        return {"next_epoch": trainer.current_epoch + int(ended)}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resumed_epoch = int(state_dict.get("next_epoch", 0))

    def train_dataloader(self) -> DataLoader:
        replicas, rank = self._world()
        sampler = EpochSeededSampler(self.train_set, num_replicas=replicas, rank=rank, shuffle=True, seed=self.seed)
        current = self.trainer.current_epoch if self.trainer is not None else 0
        sampler.set_epoch(max(self._resumed_epoch, current))
        # Workers are started anew each epoch and seeded from (seed, epoch, rank, worker):
        # persistent workers would carry their RNG across epochs, and a resumed run would
        # not see the same augmentations.
        return DataLoader(
            self.train_set, batch_size=self.cfg.batch_size, sampler=sampler,
            worker_init_fn=partial(_seed_worker, sampler),
            drop_last=len(sampler) >= self.cfg.batch_size,  # a set smaller than a batch is one batch, not none
            num_workers=self.cfg.num_workers, persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        replicas, rank = self._world()
        # Each image once, ranks off by at most one image: the DistributedSampler would pad with
        # repeats that count twice in the metrics. Safe in validation (DDP syncs buffers only on
        # its first no-grad forward) while every rank has a batch, hence the fallbacks: a
        # fractional limit_val_batches could leave one rank none.
        limit = self.trainer.limit_val_batches if self.trainer is not None else 1.0
        whole = isinstance(limit, int) or limit == 1.0
        sampler_type = UnrepeatedDistributedSampler if whole and len(self.val_set) >= replicas else DistributedSampler
        sampler = sampler_type(self.val_set, num_replicas=replicas, rank=rank, shuffle=False)
        return DataLoader(self.val_set, batch_size=self.cfg.batch_size * 2, sampler=sampler,
                          num_workers=self.cfg.num_workers)
