"""The LightningDataModule: builds the splits of a configured data set and their loaders."""

from __future__ import annotations

import logging

import lightning as L
from torch.utils.data import DataLoader, DistributedSampler

from gclenet.data.classes import class_list
from gclenet.data.dataset import FERDataset
from gclenet.data.registry import get_dataset_spec, read_split
from gclenet.data.transforms import build_transform
from gclenet.training.config import DataConfig

__all__ = ["FERDataModule"]

log = logging.getLogger(__name__)


class FERDataModule(L.LightningDataModule):
    """Train/validation loaders of ``config.dataset`` under ``config.root``.

    The training order is a permutation drawn from ``(seed, epoch)`` (a
    ``DistributedSampler``, also with one process), so a resumed run sees the same
    batches as an uninterrupted one and DDP ranks split each epoch without overlap.
    """

    def __init__(self, config: DataConfig, seed: int = 0) -> None:
        super().__init__()
        self.cfg = config
        self.seed = seed
        spec = get_dataset_spec(config.dataset)
        self.grayscale = spec.grayscale
        self.classes = list(class_list(config.classes) if config.classes else spec.classes)
        self.train_set: FERDataset | None = None
        self.val_set: FERDataset | None = None

    def _dataset(self, split: str, train: bool) -> FERDataset:
        samples = read_split(self.cfg.dataset, self.cfg.root, split, self.classes)
        transform = build_transform(self.cfg.input_size, train=train, augment=self.cfg.augment)
        dataset = FERDataset(samples, self.classes, transform, grayscale=self.grayscale, cache=self.cfg.cache)
        for line in dataset.skipped:
            log.warning("skipped unreadable image %s", line)
        return dataset

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset(self.cfg.train_split, train=True)
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset(self.cfg.val_split, train=False)

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def train_dataloader(self) -> DataLoader:
        replicas, rank = self._world()
        sampler = DistributedSampler(self.train_set, num_replicas=replicas, rank=rank, shuffle=True, seed=self.seed)
        return DataLoader(
            self.train_set, batch_size=self.cfg.batch_size, sampler=sampler, drop_last=True,
            num_workers=self.cfg.num_workers, persistent_workers=self.cfg.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        replicas, rank = self._world()
        sampler = DistributedSampler(self.val_set, num_replicas=replicas, rank=rank, shuffle=False)
        return DataLoader(self.val_set, batch_size=self.cfg.batch_size * 2, sampler=sampler,
                          num_workers=self.cfg.num_workers)
