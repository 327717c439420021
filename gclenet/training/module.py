"""The LightningModule: trains any registered model as an expression classifier.

It knows the optimisation recipe and the metrics; the model knows nothing of training
and the data module owns the files.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from gclenet.models import create_model
from gclenet.models.calibration import sample_prior
from gclenet.models.weights import load_init_weights
from gclenet.training.config import TrainConfig
from gclenet.training.distillation import Teachers

__all__ = ["FERClassifier", "MeanClassAccuracy", "lr_factor"]


class MeanClassAccuracy(MulticlassConfusionMatrix):
    """Recall averaged over the classes the data has, as ``gclenet evaluate`` reports it.

    torchmetrics' macro accuracy also averages in a class with no images that the model
    predicts now and then (contempt on FER2013), as 0 %.
    """

    def compute(self) -> Tensor:
        confusion = super().compute()
        support = confusion.sum(dim=1)
        recall = confusion.diagonal() / support.clamp(min=1)
        return recall[support > 0].mean()


def lr_factor(step: int, *, total_steps: int, steps_per_epoch: int, schedule: str,
              warmup_epochs: float, step_epochs: int, gamma: float) -> float:
    """Multiplier of the base learning rate at optimizer step ``step``."""
    warmup = int(warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "step":
        return gamma ** (step // max(1, step_epochs * steps_per_epoch))
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"optim.schedule must be 'step', 'cosine' or 'constant', got {schedule!r}")


class FERClassifier(L.LightningModule):
    """Cross-entropy training of ``config.model`` on ``classes``.

    Its checkpoints hold, as hyper-parameters, the config as plain values and the class
    list (as since gclenet 0.1) and the weights' record (``weights_info``, see
    :class:`gclenet.models.weights.WeightsInfo`), which ``load`` and ``evaluate`` read.
    """

    def __init__(self, config: TrainConfig, classes: Sequence[str], *, initial_weights: bool = True) -> None:
        """``initial_weights=False`` (a resumed run, whose checkpoint overwrites every weight)
        skips ``backbone_weights`` and ``init_checkpoint``: a moved file or no network must not
        stop a resume."""
        super().__init__()
        self.cfg = config
        self.classes = list(classes)
        self.weights_info = config.weights_info(self.classes)
        self.class_prior: Tensor | None = None  # the training targets' class distribution, set in setup()
        self.save_hyperparameters({"config": config.to_dict(), "classes": self.classes,
                                   "weights_info": self.weights_info.to_dict()})
        optim = self.cfg.optim
        # (optim.schedule's value was checked when the config was read: config.Schedule)
        if optim.schedule == "step" and optim.step_epochs < 1:
            raise ValueError(f"optim.step_epochs must be 1 or more for the step schedule, got {optim.step_epochs}")
        model_cfg = self.cfg.model
        self.model = create_model(
            model_cfg.name, num_classes=len(self.classes),
            backbone_weights=model_cfg.backbone_weights if initial_weights else None, **model_cfg.overrides,
        )
        if model_cfg.init_checkpoint and initial_weights:
            load_init_weights(self.model, model_cfg.init_checkpoint, self.classes)
        if model_cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.teachers = self._teachers()
        num_classes = len(self.classes)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "mean_class_acc": MeanClassAccuracy(num_classes),
                "macro_f1": MulticlassF1Score(num_classes, average="macro"),
            },
            prefix="val_",
        )

    def _teachers(self) -> Teachers | None:
        """The distillation teachers the config names (also on a resume: they are not in the checkpoint)."""
        optim = self.cfg.optim
        if not optim.distill_from:
            return None
        if not 0 < optim.distill_weight <= 1:
            raise ValueError(f"optim.distill_weight must be in (0, 1], got {optim.distill_weight}")
        if self.cfg.data.label_mode == "multi_target":
            raise ValueError("optim.distill_from does not combine with data.label_mode multi_target (its loss "
                             "takes no soft target); use crossentropy")
        return Teachers(optim.distill_from, self.weights_info, temperature=optim.distill_temperature)

    def distilled(self, images: Tensor, targets: Tensor) -> Tensor:
        """``targets`` (class indices or distributions) mixed with the teachers' probabilities on ``images``."""
        if targets.is_floating_point():
            labels = targets.float()
        else:
            labels = F.one_hot(targets, len(self.classes)).float()
        weight = self.cfg.optim.distill_weight
        return (1.0 - weight) * labels + weight * self.teachers.probabilities(images)

    def setup(self, stage: str) -> None:
        """The training targets' class prior, once the data module has read them: the
        class-aware losses need it, and the record keeps it (for ``balance`` at inference)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        train_set = getattr(datamodule, "train_set", None)
        if self.class_prior is None and train_set is not None and train_set.samples:
            self.class_prior = torch.tensor(sample_prior(train_set.samples, len(self.classes)))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The record says when these weights were trained (the day of the checkpoint), on what
        # class prior, and whether the logits are balanced by the loss.
        record = {**checkpoint["hyper_parameters"]["weights_info"], "date": datetime.date.today().isoformat(),
                  "logit_adjustment": self.cfg.optim.logit_adjustment}
        if self.class_prior is not None:
            record["class_prior"] = self.class_prior.tolist()
        checkpoint["hyper_parameters"] = {**checkpoint["hyper_parameters"], "weights_info": record}

    def forward(self, x: Tensor) -> Tensor:
        if self.cfg.model.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def _prior(self, like: Tensor) -> Tensor:
        if self.class_prior is None:
            raise RuntimeError("the class-aware losses need the training prior: train through `gclenet train` "
                               "(the data module provides it) or set module.class_prior")
        return self.class_prior.to(device=like.device, dtype=torch.float32).clamp(min=1e-6)

    def prior_matched(self, logits: Tensor) -> Tensor:
        """Logits as the model answers for accuracy: with the logit-adjusted loss, its own logits
        are balanced and the prior is added back (what inference does by default)."""
        tau = self.cfg.optim.logit_adjustment
        return logits.float() + tau * self._prior(logits).log() if tau else logits

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy on class indices or label distributions (class-aware where
        ``optim.class_weight_power`` or ``optim.logit_adjustment`` say so); FER+'s
        multi-target loss ``-log max_k p_k t_k`` when ``data.label_mode`` is ``multi_target``."""
        optim = self.cfg.optim
        logits = self.prior_matched(logits)
        if self.cfg.data.label_mode == "multi_target" and targets.is_floating_point():
            log_probs = F.log_softmax(logits.float(), dim=1) + targets.clamp(min=1e-12).log()
            return -log_probs.max(dim=1).values.mean()
        weight = None
        if optim.class_weight_power:
            prior = self._prior(logits)
            weight = prior ** -optim.class_weight_power
            weight = (weight / (prior * weight).sum()).to(logits.dtype)  # mean weight 1 under the prior
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=optim.label_smoothing)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, targets = batch
        labels = targets.argmax(dim=1) if targets.is_floating_point() else targets  # before distillation
        if self.teachers is not None:
            targets = self.distilled(images, targets)
        logits = self(images)
        loss = self.loss(logits, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); the last good checkpoint is kept"
            )
        self.train_acc(logits, labels)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self.prior_matched(self(images))
        self.log("val_loss", F.cross_entropy(logits, labels), on_epoch=True, prog_bar=True,
                 batch_size=len(labels), sync_dist=True)
        self.val_metrics(logits, labels)
        self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        optim = self.cfg.optim
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            (no_decay if param.ndim <= 1 else decay).append(param)
        optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=optim.lr, momentum=optim.momentum, nesterov=optim.nesterov,
        )
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, self.trainer.max_epochs))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: lr_factor(
                step, total_steps=total, steps_per_epoch=per_epoch, schedule=optim.schedule,
                warmup_epochs=optim.warmup_epochs, step_epochs=optim.step_epochs, gamma=optim.gamma,
            ),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
