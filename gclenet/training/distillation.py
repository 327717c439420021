"""Knowledge distillation: trained teachers' probabilities as part of the training target.

The student's target becomes ``(1 - weight) * label + weight * mean_t softmax(teacher_t(x) / T)``
(Hinton et al., 2015), where ``x`` is the very batch the student sees, augmented: a teacher that
sees the student's own view is the consistent teacher of Beyer et al. (2022, "Knowledge
distillation: a good teacher is patient and consistent"). Soft labels stay soft labels, so the
loss (and the class-aware weighting) of :class:`~gclenet.training.module.FERClassifier` is
unchanged. Teachers are any weights of the same classes and input (shipped names, safetensors
files, run checkpoints); they run in their deploy form (folded), frozen, and are not saved in the
student's checkpoints: a resumed run loads them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from gclenet.models import WeightsInfo, load

__all__ = ["Teachers"]


class Teachers:
    """Frozen teacher models whose mean probability is a distillation target.

    Deliberately not an ``nn.Module``: the teachers are no part of the student, so Lightning
    neither optimises, checkpoints nor counts them; :meth:`probabilities` moves them to the
    batch's device the first time it sees one.
    """

    def __init__(self, sources: Sequence[str | Path], student: WeightsInfo, *, temperature: float = 1.0) -> None:
        """Load every teacher in ``sources``.

        Raises:
            ValueError: a teacher of other classes or another input (size, gray or colour,
                normalisation) than the ``student`` record says, or a temperature that is not positive.
        """
        if temperature <= 0:
            raise ValueError(f"optim.distill_temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.models: list[nn.Module] = []
        # Added to a teacher's logits: its prior back where it trained with the logit-adjusted loss,
        # so every teacher answers as it does for accuracy (as inference does by default).
        self.offsets: list[Tensor | None] = []
        for source in sources:
            model, info = load(source, reparameterize=True)
            _check_compatible(source, info, student)
            for param in model.parameters():
                param.requires_grad_(False)
            self.models.append(model.to(memory_format=torch.channels_last))
            balanced = info.logit_adjustment and info.class_prior
            self.offsets.append(info.logit_adjustment * torch.tensor(info.class_prior).clamp(min=1e-6).log()
                                if balanced else None)

    @torch.no_grad()
    def probabilities(self, images: Tensor) -> Tensor:
        """The teachers' mean class probabilities ``(B, C)`` (float32) on the normalised batch ``images``."""
        images = images.contiguous(memory_format=torch.channels_last)
        total = None
        for index, model in enumerate(self.models):
            if next(model.parameters()).device != images.device:
                self.models[index] = model = model.to(images.device)
            logits = model(images).float()
            if self.offsets[index] is not None:
                logits = logits + self.offsets[index].to(logits.device)
            probs = torch.softmax(logits / self.temperature, dim=1)
            total = probs if total is None else total + probs
        return total / len(self.models)


def _check_compatible(source: str, teacher: WeightsInfo, student: WeightsInfo) -> None:
    mismatches = [
        f"{what} {theirs!r} (the student's: {ours!r})"
        for what, theirs, ours in (
            ("classes", list(teacher.classes), list(student.classes)),
            ("input size", teacher.input_size, student.input_size),
            ("grayscale", teacher.grayscale, student.grayscale),
            ("mean", [round(v, 6) for v in teacher.mean], [round(v, 6) for v in student.mean]),
            ("std", [round(v, 6) for v in teacher.std], [round(v, 6) for v in student.std]),
        )
        if theirs != ours
    ]
    if mismatches:
        raise ValueError(f"distillation teacher {source}: " + "; ".join(mismatches)
                         + ": a teacher must see the student's input and answer its classes")
