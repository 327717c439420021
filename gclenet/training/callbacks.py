"""Training callbacks: per-epoch timing and stochastic weight averaging.

Lightning's ``ThroughputMonitor`` logs a rolling window of eight metrics every step and
wants a FLOP count; a run report needs one number per epoch, so ``EpochTimer`` is smaller.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import WeightAveraging

from gclenet.training.loggers import ResumableCSVLogger

__all__ = ["EpochTimer", "EpochWeightAveraging", "TrimLogsToCheckpoint"]


class TrimLogsToCheckpoint(L.Callback):
    """Forget the CSV rows a killed run logged after the checkpoint this run starts from
    (all of them on a fresh start: a run killed before its first checkpoint): this run
    logs those steps again, and the history would hold them twice."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                if isinstance(logger, ResumableCSVLogger):
                    logger.forget_from_step(trainer.global_step)


class EpochTimer(L.Callback):
    """Logs ``train_epoch_s`` (training steps only, validation excluded) and
    ``train_images_per_s`` (all processes together) at the end of every training epoch."""

    def __init__(self) -> None:
        self._start = self._last_step = 0.0
        self._images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._images += len(batch[0])
        self._last_step = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # on_train_epoch_end runs after validation in Lightning 2.x; stop the clock at the last step
        if not self._images:  # a resumed run that restarts on an epoch's end
            return
        seconds = self._last_step - self._start
        pl_module.log("train_epoch_s", seconds, on_epoch=True, sync_dist=True, reduce_fx="max")
        pl_module.log("train_images_per_s", self._images * trainer.world_size / seconds, on_epoch=True,
                      sync_dist=True)


class EpochWeightAveraging(WeightAveraging):
    """SWA (Izmailov et al., 2018): the equal average of the weights after each epoch from
    ``start_epoch`` (0-based) on. BatchNorm statistics are averaged with the weights.

    Lightning validates before ``on_train_epoch_end``, so an average taken there would be
    validated (and ``best.ckpt`` chosen on it) one epoch late; it is taken after the
    epoch's last optimizer step instead.
    """

    def __init__(self, start_epoch: int = 0) -> None:
        super().__init__()
        if start_epoch < 0:
            raise ValueError(f"optim.swa_start_epoch must be >= 0, got {start_epoch}")
        self.start_epoch = start_epoch
        self._trainer: L.Trainer | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer
        super().setup(trainer, pl_module, stage)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        trainer = self._trainer
        return (step_idx is not None and trainer is not None and trainer.is_last_batch
                and trainer.current_epoch >= self.start_epoch)

    # Before the first average exists Lightning's copy holds the weights from the start of
    # fit: validating, checkpointing or finishing with it would stand in the untrained (or
    # pre-trained) weights for the model being trained. Until then the model is itself.
    def _has_average(self) -> bool:
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._has_average():
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._has_average():
            super().on_validation_epoch_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._has_average():
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._has_average():
            super().on_train_end(trainer, pl_module)
