"""``gclenet finetune``: trained weights (ours by default) on your data, in one command.

Everything a fine-tuning run must agree on with the weights comes from their record: the
variant and its options, the input size, the normalisation, gray or colour. The classes
come from the data: a folder's class subfolders, or the classes a named data set has
images of. The head is replaced where the classes differ (kept, re-ordered by name, where
they are the same). The run validates on a held-out part of the training split (whole
subjects where the reader knows them), so the data set's test split stays unseen for
``gclenet evaluate``. The result is an ordinary run (``config.yaml``, checkpoints) that
``Recognizer``, ``evaluate``, ``export`` and ``train --resume`` take as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gclenet.data import class_list, get_dataset_spec, list_datasets, read_split
from gclenet.data.folders import DatasetLayoutError, list_images
from gclenet.data.transforms import AugmentConfig
from gclenet.models.weights import read_weights_info
from gclenet.training.config import DataConfig, ModelConfig, OptimConfig, TrainConfig, TrainerConfig

__all__ = ["finetune_config"]

_TRAIN_FOLDERS = ("train", "training")  # as the folder reader accepts them
_TEST_FOLDERS = ("test", "val", "validation")


def _folder_layout(root: Path) -> tuple[str, str, Path]:
    """``(train split, evaluation split, folder of the class folders)`` of a folder data set:
    ``root/{train,test}/<class>/`` or ``root/<class>/`` (split ``all``)."""
    train = next((root / name for name in _TRAIN_FOLDERS if (root / name).is_dir()), None)
    if train is None:
        return "all", "all", root
    has_test = any((root / name).is_dir() for name in _TEST_FOLDERS)
    return "train", "test" if has_test else "train", train


def _folder_classes(class_root: Path) -> list[str]:
    """The class folders that hold images, sorted by name (their order is the head's)."""
    classes = [p.name for p in sorted(class_root.iterdir()) if p.is_dir() and list_images(p)]
    if len(classes) < 2:
        raise DatasetLayoutError(f"{class_root}: found {len(classes)} class folder(s) with images; fine-tuning needs "
                                 "two or more: <folder>/<class>/<images>, or <folder>/{train,test}/<class>/<images>")
    return classes


def _present_classes(dataset: str, root: str, split: str, options: dict[str, Any]) -> list[str]:
    """The data set's classes that its training split has images of (CK+48 has no neutral:
    a head for it would be trained on nothing)."""
    spec = get_dataset_spec(dataset)
    present = {sample.label for sample in read_split(dataset, root, split, spec.classes, **options)}
    return [name for index, name in enumerate(spec.classes) if index in present]


def finetune_config(data: str, *, root: str | None = None, weights: str = "default", out: str | None = None,
                    classes: Sequence[str] | None = None, options: dict[str, Any] | None = None, epochs: int = 10,
                    lr: float = 0.01, batch_size: int = 32, holdout: float = 0.2, seed: int = 42) -> TrainConfig:
    """The training config that fine-tunes ``weights`` on ``data``.

    The defaults suit a CPU and a few thousand images: a short cosine schedule from a fifth
    of the from-scratch learning rate (0.05), so the trained features are adjusted, not
    relearnt (``gclenet finetune`` has the same defaults).

    Args:
        data: a folder (``<class>/<images>`` or ``{train,test}/<class>/<images>``) or a
            registered data set's name (then ``root`` says where it is).
        weights: ``"default"``, a shipped name, a ``.safetensors`` file or a run's ``.ckpt``.
        out: the run folder (``runs/<name>``); default ``runs/finetune_<data name>``.
        classes: the class list, in order; default: the folder's class folders, or the
            classes the data set has training images of.
        options: the data set reader's options (e.g. CK+'s ``fold``).
        holdout: the fraction of the training split validated on (by subject where known).

    Raises:
        ValueError: a name that is neither a folder nor a data set, or no root for a data set.
        DatasetLayoutError: a folder without two class folders of images.
    """
    info = read_weights_info(weights)
    options = dict(options or {})
    if Path(data).is_dir():
        dataset, root = "folder", str(data)
        train_split, val_split, class_root = _folder_layout(Path(data))
        found = classes or _folder_classes(class_root)
        name = Path(data).resolve().name
    elif data in list_datasets() and data != "mix":
        if root is None:
            raise ValueError(f"--root: where the {data} data set is (`gclenet data list` shows the layout it reads)")
        dataset, name, train_split = data, data, "train"
        splits = get_dataset_spec(data).splits
        val_split = "test" if "test" in splits else splits[-1]
        found = classes or _present_classes(data, root, train_split, options)
    else:
        raise ValueError(f"{data}: neither a folder nor a data set's name ({', '.join(list_datasets())}; the mix of "
                         "several needs a config: gclenet train --config configs/paper/pretrain_mix.yaml)")
    run = Path(out) if out else Path("runs") / f"finetune_{name}"
    return TrainConfig(
        seed=seed, output_dir=str(run.parent), run_name=run.name,
        model=ModelConfig(name=info.model_name, overrides=dict(info.model_overrides), init_checkpoint=str(weights)),
        data=DataConfig(dataset=dataset, root=root, train_split=train_split, val_split=val_split,
                        classes=list(class_list(found)), options=options, holdout_fraction=holdout,
                        input_size=info.input_size, grayscale=info.grayscale, mean=list(info.mean),
                        std=list(info.std), batch_size=batch_size, augment=AugmentConfig()),
        optim=OptimConfig(lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4, label_smoothing=0.1,
                          schedule="cosine", warmup_epochs=0.5),
        trainer=TrainerConfig(max_epochs=epochs, precision="auto"),
    )
