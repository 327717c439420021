"""``gclenet train``: one function from a config to a finished (or resumed) run."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from gclenet.hardware import resolve_precision
from gclenet.fileio import atomic_write_bytes
from gclenet.training.callbacks import EpochTimer, EpochWeightAveraging, TrimLogsToCheckpoint
from gclenet.training.checkpoint_io import AtomicCheckpointIO
from gclenet.training.config import TrainConfig
from gclenet.training.console import progress_bar, training_console
from gclenet.training.datamodule import FERDataModule
from gclenet.training.loggers import ResumableCSVLogger
from gclenet.training.module import FERClassifier

__all__ = ["train"]

log = logging.getLogger(__name__)


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Train ``config`` into ``config.run_dir``; returns the best checkpoint's path.

    With ``resume``, continues from ``run_dir/checkpoints/last.ckpt`` (exactly: same
    data order, RNG states, optimizer and schedule); without it an existing run
    directory with checkpoints is an error, so nothing is overwritten by accident.
    """
    run_dir = config.run_dir
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume; run without --resume to start {run_dir}")
    if not resume and last.is_file():
        raise FileExistsError(f"{run_dir} already has checkpoints; pass --resume to continue it or pick another run_name")
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = FERClassifier(config, config.data.task_classes(), initial_weights=not resume)
    datamodule = FERDataModule(config.data, seed=config.seed, transform=module.weights_info.transforms())
    resolved = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write_bytes(run_dir / "config.yaml", lambda f: f.write(resolved.encode()))

    trainer_cfg = config.trainer
    # Two callbacks: Lightning's save_last only refreshes last.ckpt when the best improves.
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_acc", mode="max",
                           enable_version_counter=False)
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", enable_version_counter=False)
    callbacks: list[L.Callback] = [best, latest, LearningRateMonitor(logging_interval="epoch"), EpochTimer(),
                                   TrimLogsToCheckpoint()]
    if config.optim.swa_start_epoch is not None:
        callbacks.append(EpochWeightAveraging(config.optim.swa_start_epoch))
    if trainer_cfg.progress_bar:
        callbacks.append(progress_bar())
    with training_console():  # Lightning's messages once each, its internals' warnings left out
        trainer = L.Trainer(
            default_root_dir=run_dir,
            max_epochs=trainer_cfg.max_epochs,
            precision=resolve_precision(trainer_cfg.precision, trainer_cfg.accelerator),
            accelerator=trainer_cfg.accelerator,
            devices=trainer_cfg.devices,
            num_nodes=trainer_cfg.num_nodes,
            strategy=trainer_cfg.strategy,
            limit_train_batches=trainer_cfg.limit_train_batches,
            limit_val_batches=trainer_cfg.limit_val_batches,
            log_every_n_steps=trainer_cfg.log_every_n_steps,
            deterministic=trainer_cfg.deterministic,
            enable_progress_bar=trainer_cfg.progress_bar,
            callbacks=callbacks,
            logger=[
                ResumableCSVLogger(run_dir, name="logs", version="", flush_logs_every_n_steps=1),
                TensorBoardLogger(run_dir, name="tensorboard", version=""),
            ],
            plugins=[AtomicCheckpointIO()],
            use_distributed_sampler=False,  # the data module shards with its own seeded sampler
            enable_model_summary=False,
        )
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    return Path(best.best_model_path or last)
