"""Trained weights and what they were trained as: one typed record, read and written here.

Every trained model travels with a :class:`WeightsInfo` (classes, input size,
normalisation, variant, training data and recipe, measured accuracy), as torchvision's
weights carry their metadata and timm's their pretrained config. The record is stored

* in a ``.safetensors`` file's ``gclenet`` metadata entry (:func:`weights_bytes`),
* in a training checkpoint's hyper-parameters (``weights_info``, written by training),
* in an ONNX model's and a TorchScript file's metadata (``gclenet export``),

and :func:`load` returns the model and its record from any of them, or from the name of
weights that ship with the package. Nothing here unpickles code.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gclenet.models._presets import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from gclenet.models.weight_storage import SCALE_SUFFIX, from_int8_storage, to_int8_storage

if TYPE_CHECKING:  # the record and the file lookup work without torch (the ONNX Runtime path)
    from torch import Tensor, nn

__all__ = ["WeightsInfo", "load", "build_trained", "load_init_weights", "read_weights_info", "read_model_state",
           "read_state_dict", "read_checkpoint", "weights_bytes",
           "resolve_weights", "shipped_weights_path", "SHIPPED_WEIGHTS", "DEFAULT_WEIGHTS", "IMAGENET_MEAN",
           "IMAGENET_STD"]

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
# name -> file in gclenet/weights; each is trained by us (see its record and docs/BENCHMARKS.md)
SHIPPED_WEIGHTS = {"ferplus": "gclenet_ferplus.safetensors", "fer2013": "gclenet_fer2013.safetensors"}
# What "default" means: FER+'s ten-annotator labels make a model that is right far more often
# than FER2013's single labels (docs/BENCHMARKS.md); the FER2013 weights stay by name.
DEFAULT_WEIGHTS = "ferplus"

# Checkpoints written before they carried the record (hyper-parameters "config" and
# "classes" only) name their data set but not how it was decoded; these were the gray
# ones then. Frozen: every newer checkpoint states ``grayscale`` itself.
_GRAY_BEFORE_THE_RECORD = frozenset({"fer2013", "ferplus", "ckplus"})


@dataclass(frozen=True)
class WeightsInfo:
    """What a trained model is and how it was made; inference needs nothing else.

    ``data``, ``recipe`` and ``accuracy`` are dicts in what gclenet writes now (the run's
    data options and config, measured numbers by name) and may be text in older files.
    """

    model_name: str  # a registered variant, see gclenet.models.list_models()
    classes: tuple[str, ...]  # the classifier's outputs, in order
    input_size: int  # square side the model was trained at
    mean: tuple[float, ...] = IMAGENET_MEAN  # normalisation after scaling pixels to [0, 1]
    std: tuple[float, ...] = IMAGENET_STD
    grayscale: bool = False  # trained on one-channel faces (replicated to three)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # GCLENetConfig fields beyond the variant's
    data: dict[str, Any] | str | None = None  # trained on: the data options (dataset, root, splits, options, seed)
    label_mode: str | None = None  # training labels of data sets with votes (FER+): majority, crossentropy...
    recipe: dict[str, Any] | str | None = None  # the training config
    accuracy: dict[str, Any] | str | None = None  # measured numbers, e.g. {"ferplus test": 0.86}
    date: str | None = None  # when trained or exported, ISO format
    # Applied to the probabilities by every engine (gclenet.models.calibration), fitted
    # after training by `gclenet calibrate`: not part of the network.
    temperature: float = 1.0  # logits / temperature: confidences that match accuracy on held-out faces
    class_prior: tuple[float, ...] | None = None  # the training targets' class distribution, for balance
    logit_adjustment: float = 0.0  # trained with the logit-adjusted loss (tau): the logits are balanced by tau
    extra: dict[str, Any] = field(default_factory=dict)  # any other metadata, kept as it came

    def __post_init__(self) -> None:
        # Frozen, and JSON lists come in as lists: store the sequences as tuples.
        for name in ("classes", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "logit_adjustment", float(self.logit_adjustment))
        if self.class_prior is not None:
            object.__setattr__(self, "class_prior", tuple(float(v) for v in self.class_prior))
            if len(self.class_prior) != len(self.classes):
                raise ValueError(f"class_prior has {len(self.class_prior)} values for {len(self.classes)} classes")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WeightsInfo:
        """The record from stored metadata; unknown keys go to ``extra``.

        Raises:
            ValueError: a field inference needs (variant, classes, input size) is missing.
        """
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = sorted({"model_name", "classes", "input_size"} - set(values))
        if missing:
            raise ValueError(f"weights metadata lacks {', '.join(missing)}")
        extra = {**values.pop("extra", {}), **{k: values.pop(k) for k in list(values) if k not in known}}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata: every field that is set, ``extra`` merged in at the top."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None}
        return {**self.extra, **values}

    def network_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the probability calibration: equal for files of the same network."""
        return {k: v for k, v in self.to_dict().items() if k not in ("temperature", "class_prior", "calibration")}

    @classmethod
    def from_json(cls, text: str) -> WeightsInfo:
        return cls.from_dict(json.loads(text))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def with_metadata(self, **metadata: Any) -> WeightsInfo:
        """A copy with fields replaced by ``metadata``; other keys go to ``extra``."""
        return WeightsInfo.from_dict({**self.to_dict(), **metadata})

    def transforms(self) -> EvalTransform:
        """The preprocessing of a uint8 face tensor for this model (resize, channels, normalisation)."""
        return EvalTransform(self.input_size, mean=self.mean, std=self.std, grayscale=self.grayscale)


def shipped_weights_path(tag: str = DEFAULT_WEIGHTS) -> Path:
    """The file of the weights shipped under ``tag`` (no network involved)."""
    if tag not in SHIPPED_WEIGHTS:
        raise KeyError(f"unknown weights {tag!r}; shipped: {', '.join(SHIPPED_WEIGHTS)}, or pass a file path")
    path = WEIGHTS_DIR / SHIPPED_WEIGHTS[tag]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shipped weights missing from this installation; "
                                "reinstall gclenet or pass weights=PATH (a .safetensors from `gclenet export`)")
    return path


def resolve_weights(weights: str | Path) -> Path:
    """The file behind ``"default"``, a shipped name or a path; a name that is none of them is explained."""
    tag = DEFAULT_WEIGHTS if str(weights) == "default" else str(weights)
    if tag in SHIPPED_WEIGHTS:
        return shipped_weights_path(tag)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{weights}: neither shipped weights ({', '.join(SHIPPED_WEIGHTS)}) nor a file")
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, loaded without unpickling arbitrary objects."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path}: refused or unreadable checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
            "gclenet only loads weights-only checkpoints and safetensors files"
        ) from None


def _unreadable_safetensors(path: Path, err: Exception) -> ValueError:
    return ValueError(f"{path}: not a readable safetensors file ({str(err).splitlines()[0][:200]}); "
                      "re-export it (gclenet export --format safetensors) or download it again")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict, never unpickling code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # SafetensorError: truncated, not safetensors at all, ...
            raise _unreadable_safetensors(path, err) from None
        return from_int8_storage(state)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, zip errors, ...
        raise ValueError(f"{path}: not a loadable weights file ({type(err).__name__}); "
                         "pass a safetensors file or a plain torch state dict") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a dict of tensors (a state dict)")
    return state


def _safetensors_info(path: Path) -> WeightsInfo | None:
    from safetensors import safe_open

    try:  # numpy: reading the metadata needs no torch
        with safe_open(str(path), "np") as handle:
            metadata = handle.metadata() or {}
    except Exception as err:  # SafetensorError
        raise _unreadable_safetensors(path, err) from None
    return WeightsInfo.from_json(metadata["gclenet"]) if "gclenet" in metadata else None


def _checkpoint_info(hparams: dict[str, Any]) -> WeightsInfo | None:
    if "weights_info" in hparams:
        return WeightsInfo.from_dict(hparams["weights_info"])
    if "config" not in hparams or "classes" not in hparams:
        return None
    config = hparams["config"]  # a checkpoint from before the record: rebuild it from the run's config
    data = config["data"]
    return WeightsInfo(model_name=config["model"]["name"], classes=hparams["classes"], input_size=data["input_size"],
                       grayscale=data["dataset"] in _GRAY_BEFORE_THE_RECORD,
                       model_overrides=dict(config["model"].get("overrides") or {}),
                       data={**data, "seed": config.get("seed")}, label_mode=data.get("label_mode"), recipe=config)


def read_model_state(weights: str | Path) -> tuple[dict[str, Tensor], WeightsInfo | None]:
    """``(model state dict, record)`` of a shipped name, ``.safetensors``, training checkpoint or
    plain state dict (the last has no record: ``None``)."""
    path = resolve_weights(weights)
    if path.suffix == ".ckpt":
        ckpt = read_checkpoint(path)
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        return state, _checkpoint_info(dict(ckpt.get("hyper_parameters") or {}))
    if path.suffix == ".safetensors":
        info = _safetensors_info(path)
        return read_state_dict(path), info
    return read_state_dict(path), None


def read_weights_info(weights: str | Path) -> WeightsInfo:
    """The record of trained weights (shipped name, ``.safetensors`` or checkpoint), without building the model.

    Raises:
        ValueError: the file carries no record (a plain state dict, or not written by gclenet).
    """
    path = resolve_weights(weights)
    if path.suffix == ".ckpt":
        info = _checkpoint_info(dict(read_checkpoint(path).get("hyper_parameters") or {}))
    else:
        info = _safetensors_info(path) if path.suffix == ".safetensors" else None
    if info is None:
        raise ValueError(f"{path}: no gclenet metadata (classes, input size); pass a run checkpoint or weights "
                         "written by `gclenet export --format safetensors`")
    return info


def _drop_other_head(model: nn.Module, state: dict[str, Tensor], source: str | Path) -> tuple[dict[str, Tensor], set[str]]:
    """``state`` without a classifier of another size than ``model``'s (fine-tuning on
    another class list: that head starts fresh, with a warning), and the dropped keys."""
    own = model.state_dict()
    head = {k for k in state if k.startswith("fc.") and k in own and own[k].shape != state[k].shape}
    if head:
        warnings.warn(f"{source}: classifier has {state['fc.weight'].shape[0]} classes, the model "
                      f"{own['fc.weight'].shape[0]}; the head starts fresh", stacklevel=3)
    return {k: v for k, v in state.items() if k not in head}, head


def _load_checked(model: nn.Module, state: dict[str, Tensor], source: str | Path, skip: set[str] = frozenset()) -> None:
    """Load ``state`` (any float dtype) or raise one error naming every tensor that does not fit."""
    own = model.state_dict()
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                  for k in state if k in own and own[k].shape != state[k].shape]
    missing = [k for k in own if k not in state and k not in skip and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        parts = [f"{label} {items[:3]}" for label, items in
                 (("shape mismatch", mismatched), ("missing", missing), ("unexpected", unexpected)) if items]
        raise RuntimeError(f"{source}: weights do not fit model {type(model).__name__}: " + "; ".join(parts)
                           + " (trained as another variant? pass the matching model name)")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)


def build_trained(weights: str | Path, name: str | None = None, *, num_classes: int | None = None,
                  **overrides: Any) -> nn.Module:
    """Variant ``name`` (default: the one ``weights`` were trained as) holding the trained
    weights; ``model.weights_info`` is their record. What ``create_model(weights=...)`` does.

    Raises:
        ValueError: weights of another variant, or without a record.
    """
    import gclenet.models.gclenet  # noqa: F401  (registers the variants)
    from gclenet.models._registry import get_model_builder

    state, info = read_model_state(weights)
    if info is None:
        raise ValueError(f"{weights}: no gclenet metadata (classes, input size); pass a run checkpoint or weights "
                         "written by `gclenet export --format safetensors`")
    name = name or info.model_name
    if info.model_name != name:
        raise ValueError(f"{weights}: weights of variant {info.model_name!r}, not {name!r}; "
                         f"call create_model({info.model_name!r}, weights=...)")
    model = get_model_builder(name)(num_classes=num_classes or info.num_classes, backbone_weights=None,
                                    **{**info.model_overrides, **overrides})
    state, head = _drop_other_head(model, state, weights)
    _load_checked(model, state, weights, skip=head)
    model.weights_info = info
    return model


def load(weights: str | Path = "default", *, reparameterize: bool = False) -> tuple[nn.Module, WeightsInfo]:
    """The trained model (in eval mode) and its record.

    Args:
        weights: ``"default"``, a shipped name (``"fer2013"``), a ``.safetensors`` file or a
            training checkpoint (``.ckpt``, also one written before checkpoints held the record).
        reparameterize: return the deploy form (asymmetric blocks and ACMix folded).

    Raises:
        FileNotFoundError: neither a shipped name nor a file.
        ValueError: unreadable, refused (pickled code) or without a record.
        RuntimeError: the tensors do not fit the recorded variant (each misfit named).
    """
    model = build_trained(weights).eval()
    if reparameterize:
        from gclenet.models._reparam import reparameterize_model

        reparameterize_model(model, inplace=True)
    return model, model.weights_info


def load_init_weights(model: nn.Module, weights: str | Path, classes: list[str] | None = None) -> None:
    """Initialise ``model`` from trained weights (fine-tuning); a head for other classes is left fresh.

    Args:
        weights: a run checkpoint, a weights file, or a shipped name (``"fer2013"``).
        classes: the model's class list. The head is kept when the weights' classes are the
            same, re-ordered by name when they are the same in another order, and left fresh
            (an info line of the ``gclenet.models.weights`` logger) when they differ, also in number.

    Raises:
        RuntimeError: any other tensor is missing or has another shape (named).
    """
    state, info = read_model_state(weights)
    trained_for = list(info.classes) if info is not None else None
    other_classes: set[str] = set()
    if classes and trained_for and trained_for != list(classes) and "fc.weight" in state:
        if sorted(trained_for) == sorted(classes):
            rows = [trained_for.index(name) for name in classes]
            state = {**state, "fc.weight": state["fc.weight"][rows], "fc.bias": state["fc.bias"][rows]}
        else:
            # Expected when fine-tuning on classes of one's own: said as an event, not warned of.
            log.info("%s: trained for %s, the model is for %s; the head starts fresh", weights, trained_for,
                     list(classes))
            other_classes = {k for k in state if k.startswith("fc.")}
            state = {k: v for k, v in state.items() if k not in other_classes}
    state, other_size = _drop_other_head(model, state, weights)
    _load_checked(model, state, weights, skip=other_classes | other_size)


def weights_bytes(model: nn.Module, info: WeightsInfo, *, half: bool = True, int8: bool = False) -> bytes:
    """``model``'s state dict as a safetensors file with ``info`` in its ``gclenet`` metadata entry
    (written to disk by :func:`gclenet.inference.export.save_weights`, atomically).

    ``int8``: large weights as int8 with per-output-channel scales
    (:func:`~gclenet.models.weight_storage.to_int8_storage`),
    the rest as fp16 (with ``half``) or fp32; loaders dequantize them.
    """
    from safetensors.torch import save

    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    if int8:
        state = to_int8_storage(state)
    tensors = {k: (v.half() if half and v.is_floating_point() and not k.endswith(SCALE_SUFFIX) else v).contiguous()
               for k, v in state.items()}
    return save(tensors, metadata={"gclenet": info.to_json()})
