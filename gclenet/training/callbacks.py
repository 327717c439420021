"""Per-epoch wall time and training throughput, logged beside accuracy and loss.

Lightning's ``ThroughputMonitor`` logs a rolling window of eight metrics every step and
wants a FLOP count; a run report needs one number per epoch, so this is smaller.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L

__all__ = ["EpochTimer"]


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
