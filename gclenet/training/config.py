"""Experiment configuration: nested dataclasses read from YAML plus ``key.sub=value`` overrides.

One typed :class:`TrainConfig` goes from the YAML file to the optimizer and the data
module; its plain-dict form is what runs save (``config.yaml``, the checkpoints' record).
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gclenet.data import class_list, get_dataset_spec
from gclenet.data.transforms import AugmentConfig
from gclenet.models import IMAGENET_MEAN, IMAGENET_STD, WeightsInfo

__all__ = ["ModelConfig", "DataConfig", "OptimConfig", "TrainerConfig", "TrainConfig", "load_config", "apply_overrides",
           "config_from_dict", "LabelMode", "Schedule"]

# Fields with fixed choices: checked when a config is read (``_coerce``), the valid values in the error.
# The label modes are FER+'s (``gclenet.data.datasets.ferplus.LABEL_MODES``; a test keeps the two equal).
LabelMode = Literal["majority", "probability", "crossentropy", "multi_target"]
Schedule = Literal["step", "cosine", "constant"]  # step: the paper's /10 every step_epochs


@dataclass
class ModelConfig:
    name: str = "gclenet"  # a name from gclenet.models.list_models()
    overrides: dict[str, Any] = field(default_factory=dict)  # GCLENetConfig fields
    backbone_weights: str | None = None  # None, "imagenet" or a local torchvision file
    init_checkpoint: str | None = None  # start from these weights (fine-tuning); head replaced if classes differ
    channels_last: bool = True


@dataclass
class DataConfig:
    dataset: str = "fer2013"  # a name from gclenet.data.list_datasets()
    root: str = "../shared/data/fer2013"
    train_split: str = "train"
    val_split: str = "test"
    classes: list[str] | None = None  # None: the data set's own classes
    options: dict[str, Any] = field(default_factory=dict)  # reader options, e.g. CK+ {fold: 0, protocol: subject}
    # Training labels of data sets with annotator votes (FER+): majority, probability,
    # crossentropy (the vote distribution as a soft target) or multi_target.
    label_mode: LabelMode = "majority"
    parts: list[dict[str, Any]] = field(default_factory=list)  # the "mix" reader's option parts: [{dataset, root}, ...]
    # Validate on this fraction of the training split instead of val_split (held out from
    # training, seeded; whole subjects where the reader knows them). 0: use val_split.
    holdout_fraction: float = 0.0
    max_train_images: int | None = None  # random subset of the training split (the paper's 50,000 mix)
    input_size: int = 48
    # How faces become the model's input, where it differs from the data set's own: fine-tuning
    # trained weights keeps theirs (a gray model stays gray on colour data). None: the data
    # set's decoding (gray or colour) and ImageNet's normalisation.
    grayscale: bool | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    batch_size: int = 64
    num_workers: int = 0  # 0 suits small cached data sets on few cores
    cache: bool = True  # decode all images into memory once
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def task_classes(self) -> list[str]:
        """The class list the model learns: ``classes``, or the data set's own."""
        return list(class_list(self.classes) if self.classes else get_dataset_spec(self.dataset).classes)

    def decode_grayscale(self) -> bool:
        """Whether images are decoded to one channel: ``grayscale``, or as the data set is distributed."""
        return get_dataset_spec(self.dataset).grayscale if self.grayscale is None else self.grayscale

    def reader_options(self, *, train: bool) -> dict[str, Any]:
        """What the reader is called with: ``options``, the mix's ``parts``, and for the
        training set a ``label_mode`` other than the majority label."""
        options = dict(self.options)
        if self.parts:
            options["parts"] = self.parts
        if train and self.label_mode != "majority":
            options["label_mode"] = self.label_mode
        return options


@dataclass
class OptimConfig:
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    # Class-aware losses for rare classes (FER+'s contempt and disgust are 0.5 % and 0.5 % of
    # its votes), both from the training targets' class prior:
    # class-balanced weighting, each class's term times prior^-power (normalised so the mean
    # weight under the prior is 1): 0 off, 0.5 inverse square root, 1 inverse frequency;
    class_weight_power: float = 0.0
    # the logit-adjusted loss (Menon et al. 2021): trained on logits + tau * log(prior), so the
    # network's own logits come out balanced; its record says so, and inference adds the prior
    # back by default (Recognizer's balance=0 answers as trained for accuracy).
    logit_adjustment: float = 0.0
    # Knowledge distillation (gclenet.training.distillation): the target is (1 - distill_weight)
    # * the label + distill_weight * the mean probability of these teachers (shipped names,
    # weights files or checkpoints of the same classes and input) on the same augmented batch,
    # their logits divided by distill_temperature. Empty: off.
    distill_from: list[str] = field(default_factory=list)
    distill_weight: float = 0.5
    distill_temperature: float = 1.0
    schedule: Schedule = "step"  # "step" (the paper: /10 every step_epochs), "cosine" or "constant"
    step_epochs: int = 20
    gamma: float = 0.1
    warmup_epochs: float = 0.0  # linear warm-up (every schedule)
    # Stochastic weight averaging: from this 0-based epoch on, the weights after every
    # epoch are averaged; validation and checkpoints then hold the average. None: off.
    swa_start_epoch: int | None = None


@dataclass
class TrainerConfig:
    max_epochs: int = 200
    precision: str = "auto"  # "auto": bf16-mixed where the CPU/GPU runs it fast, else 32-true
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several processes; torchrun works unchanged
    limit_train_batches: float | int | None = None
    limit_val_batches: float | int | None = None
    log_every_n_steps: int = 50
    deterministic: bool = False
    progress_bar: bool = True


@dataclass
class TrainConfig:
    seed: int = 42
    output_dir: str = "runs"
    run_name: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def weights_info(self, classes: Sequence[str]) -> WeightsInfo:
        """The record a run of this config writes into its checkpoints: what inference needs,
        and the data options and seed (which images it trained on) and the whole config."""
        values = self.to_dict()
        data = self.data
        return WeightsInfo(model_name=self.model.name, classes=tuple(classes), input_size=data.input_size,
                           mean=tuple(data.mean or IMAGENET_MEAN), std=tuple(data.std or IMAGENET_STD),
                           grayscale=data.decode_grayscale(), model_overrides=dict(self.model.overrides),
                           data={**values["data"], "seed": self.seed}, label_mode=data.label_mode, recipe=values)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(where + k for k in unknown)}; valid: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ValueError(f"config key {where}{name} must be a mapping")
            value = _build(hint, value, f"{where}{name}.")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        else:
            value = _coerce(value, hint, where + name)
        kwargs[name] = value
    return cls(**kwargs)


def _scalar_kinds(hint: Any) -> list[type] | None:
    """The scalar types a field takes (``float | None`` -> [float]); None for anything else."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = [a for a in args if a is not type(None)]
    return kinds if kinds and all(k in (str, int, float, bool) for k in kinds) else None


def _literal_choices(hint: Any) -> tuple[Any, ...] | None:
    """The values a ``Literal`` field (or an optional one) allows; None for any other field."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    literals = [a for a in args if typing.get_origin(a) is Literal]
    if not literals:
        return None
    return tuple(v for a in literals for v in typing.get_args(a)) + ((None,) if type(None) in args else ())


def _coerce(value: Any, hint: Any, key: str) -> Any:
    choices = _literal_choices(hint)
    if choices is not None:
        if value not in choices:
            valid = ", ".join("null" if c is None else str(c) for c in choices)
            raise ValueError(f"config key {key}: {value!r} is not a valid choice; valid: {valid}")
        return value
    # YAML reads "1e-3" as text and a date as a date: convert by the field's type here, so a
    # wrong type fails now with the key named, not epochs later inside the optimizer.
    kinds = _scalar_kinds(hint)
    if kinds is None or value is None or type(value) in kinds:
        return value
    if isinstance(value, bool) or bool in kinds:
        pass  # booleans are never converted to or from numbers
    elif float in kinds and isinstance(value, int):
        return float(value)
    elif isinstance(value, str):
        for kind in (int, float):
            if kind in kinds:
                try:
                    return kind(value)
                except ValueError:
                    pass
    elif str in kinds and isinstance(value, (int, float, datetime.date)):
        return str(value)
    expected = " or ".join({str: "text", int: "an integer", float: "a number", bool: "true/false"}[k] for k in kinds)
    raise ValueError(f"config key {key}: expected {expected}, got {value!r}")


def apply_overrides(values: dict[str, Any], overrides: list[str], schema: type | None = None) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a nested dict.

    With ``schema`` (a config dataclass), a text field keeps exactly what was typed:
    ``run_name=0001`` is the name "0001", not the number 1.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part} is not a section")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"override {item!r}: the value is not valid YAML (quote text, close brackets)") from None
        if value is not None and _scalar_kinds(_field_hint(schema, key.split("."))) == [str]:
            value = raw
        node[leaf] = value
    return values


def _field_hint(schema: type | None, path: list[str]) -> Any:
    hint: Any = schema
    for part in path:
        if not dataclasses.is_dataclass(hint):
            return None
        hint = typing.get_type_hints(hint).get(part)
    return hint


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or the defaults) and apply overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())[:200]})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a config must be a YAML mapping")
    return config_from_dict(apply_overrides(values, overrides or [], TrainConfig))


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from nested plain values (unknown keys are an error)."""
    return _build(TrainConfig, values, "")


