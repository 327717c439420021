"""Classifier engines for the deploy model: eager PyTorch (fp32, or bf16 autocast) and ONNX
Runtime (an fp32 or an int8 export, or the weightless fp32 graph that ships beside the weights,
filled from them at load: :mod:`gclenet.inference.onnx_graph`), and ``"auto"``: the fastest one measured on this
machine (:mod:`gclenet.inference.autoselect`).

Every engine takes face crops (uint8 arrays) through the weights' one evaluation
transform (``EvalTransform.numpy_batch``) and returns class probabilities. This module
imports no torch: the PyTorch engine imports it when built, the ONNX Runtime one never.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from gclenet.inference.onnx_graph import fill_session_options, graph_path_for, is_graph, numpy_state
from gclenet.models.weights import WeightsInfo, read_weights_info, resolve_weights

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ClassifierEngine", "Engine", "Candidate", "CANDIDATES", "TorchBackend", "OnnxRuntimeBackend", "create_backend", "BACKENDS",
           "PRECISIONS", "INT8_KEY",
           "onnx_path_for", "fp32_onnx_path_for", "int8_path_for", "ort_threads", "softmax"]

BACKENDS = ("auto", "torch", "onnxruntime")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
INT8_KEY = "gclenet_int8"  # ONNX metadata entry of an int8 model: how it was made and validated
# Every engine at every precision gclenet runs, in order of preference: the first is the
# reference; ``backend="auto"`` (inference/autoselect.py) chooses among them.
CANDIDATES = ("torch-fp32", "onnx-fp32", "torch-bf16", "onnx-int8")


@runtime_checkable
class ClassifierEngine(Protocol):
    """What every classifier engine is to :class:`~gclenet.inference.recognizer.Recognizer`,
    ``info`` and the CLI: the eager PyTorch model, an ONNX Runtime session, or ``auto``'s choice."""

    info: WeightsInfo  # the weights' record

    @property
    def name(self) -> str:  # "torch-fp32", "onnx-int8"... or "auto"
        ...

    def classify(self, crops: Sequence[np.ndarray], *, tta: bool = False) -> np.ndarray:
        """Class probabilities ``(len(crops), classes)`` of face crops (uint8 arrays)."""
        ...

    def torch_model(self) -> nn.Module:
        """The PyTorch deploy model (Grad-CAM needs one); raises where the engine has none."""
        ...


@dataclass(frozen=True)
class Candidate:
    """One engine at one precision, as ``backend="auto"`` weighs them (``torch-fp32``...)."""

    engine: Literal["torch", "onnx"]
    precision: Literal["fp32", "bf16", "int8"]

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.precision}"

    @classmethod
    def parse(cls, name: str) -> Candidate:
        """The candidate named ``name`` (``"torch-bf16"``).

        Raises:
            ValueError: a name that is no engine and precision gclenet runs.
        """
        if name not in CANDIDATES:
            raise ValueError(f"{name!r} is no classifier engine; valid: {', '.join(CANDIDATES)}")
        engine, _, precision = name.partition("-")
        return cls(engine, precision)  # type: ignore[arg-type]


def onnx_path_for(weights: str | Path) -> Path:
    """Where ``gclenet export --format onnx`` output of ``weights`` is looked for: beside them, ``.onnx``."""
    return resolve_weights(weights).with_suffix(".onnx")


def fp32_onnx_path_for(weights: str | Path) -> Path:
    """The fp32 ONNX model of ``weights``: an export beside them (:func:`onnx_path_for`) where
    there is one, else the weightless graph filled from them (:func:`~gclenet.inference.onnx_graph.graph_path_for`)."""
    exported = onnx_path_for(weights)
    return exported if exported.is_file() else graph_path_for(weights)


def int8_path_for(weights: str | Path) -> Path:
    """Where the int8 model of ``weights`` is looked for: beside them, ``<stem>.int8.onnx``."""
    path = resolve_weights(weights)
    return path.with_name(f"{path.stem}.int8.onnx")


def ort_threads() -> int:
    """ONNX Runtime threads: ``OMP_NUM_THREADS`` where set (as PyTorch follows it), else 0 (its
    default, one per physical core)."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


class Engine:
    """What the single engines share (a :class:`ClassifierEngine`): crops -> its input batch ->
    probabilities, with flip TTA; ``auto`` times and checks them through ``prepare`` and
    ``probabilities``."""

    name = "engine"
    info: WeightsInfo

    def prepare(self, crops: Sequence[np.ndarray]) -> Any:
        raise NotImplementedError

    def flip(self, batch: Any) -> Any:
        raise NotImplementedError

    def probabilities(self, batch: Any) -> np.ndarray:
        raise NotImplementedError

    def classify(self, crops: Sequence[np.ndarray], *, tta: bool = False) -> np.ndarray:
        """Class probabilities ``(len(crops), classes)``; ``tta``: averaged with the mirrored faces."""
        batch = self.prepare(crops)
        probs = self.probabilities(batch)
        return (probs + self.probabilities(self.flip(batch))) / 2 if tta else probs


class TorchBackend(Engine):
    """The re-parameterised model under ``torch.inference_mode``, channels-last; built from
    the folded-weights cache (:mod:`gclenet.inference.deploy`)."""

    def __init__(self, weights: str | Path, *, device: str = "cpu", precision: str = "auto") -> None:
        try:
            import torch
        except ModuleNotFoundError as err:  # the core install: say what brings it (the CLI reads err.name)
            from gclenet.extras import install_command

            raise ModuleNotFoundError(f"the PyTorch engine needs torch: {install_command('torch')} "
                                      "(or use backend='auto' or 'onnxruntime')", name=err.name) from None

        from gclenet.hardware import fast_bf16_available
        from gclenet.inference.deploy import load_deploy_model

        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"the torch backend runs fp32 or bf16 (precision auto, fp32 or bf16), got {precision!r}")
        model, self.info = load_deploy_model(weights)
        self.device = torch.device(device)
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.bf16 = precision == "bf16" or (precision == "auto" and fast_bf16_available(self.device.type))
        self.transform = self.info.transforms()

    @property
    def name(self) -> str:  # type: ignore[override]
        return "torch-bf16" if self.bf16 else "torch-fp32"

    def torch_model(self) -> nn.Module:
        return self.model

    def prepare(self, crops: Sequence[np.ndarray]) -> Any:
        import torch

        batch = torch.from_numpy(self.transform.numpy_batch(crops))
        return batch.contiguous(memory_format=torch.channels_last)

    def flip(self, batch: Any) -> Any:
        return batch.flip(3)

    def probabilities(self, batch: Any) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            logits = self.model(batch.to(self.device))
        return logits.float().softmax(dim=1).cpu().numpy()


class OnnxRuntimeBackend(Engine):
    """An exported ONNX model (``gclenet export --format onnx``, with ``--int8`` or without) on
    ONNX Runtime's CPU provider.

    Args:
        weights: the weights the model was exported from (their record is the fallback
            where the ONNX file has none).
        onnx_path: the ONNX model (default: the fp32 one of the weights, :func:`fp32_onnx_path_for`).
        threads: intra-op threads (default :func:`ort_threads`).
    """

    def __init__(self, weights: str | Path, *, onnx_path: str | Path | None = None, device: str = "cpu",
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(onnx_path) if onnx_path else fp32_onnx_path_for(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no ONNX model; create it with "
                                    f"`gclenet export --format onnx --weights {weights} --out {path}`")
        if device != "cpu":
            raise ValueError(f"the onnxruntime backend runs on the CPU here, not {device!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = ort_threads() if threads is None else threads
        self.path = path
        # A weightless graph: its tensors are the weights file's, handed over (and kept) here.
        self._filled = fill_session_options(options, numpy_state(weights)) if is_graph(path) else None
        if self._filled is not None:
            options.log_severity_level = 3  # its unoptimised graph makes ORT warn of every CastLike it cannot fold
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's Fail / InvalidGraph: weights of another shape or variant
            if self._filled is None:
                raise
            raise RuntimeError(f"{weights}: the weights do not fit the graph {path.name} "
                               f"({str(err).splitlines()[0][:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        # A filled graph is its weights: their record (calibration included) is the one.
        self.info: WeightsInfo = WeightsInfo.from_json(meta["gclenet"]) if "gclenet" in meta and \
            self._filled is None else read_weights_info(weights)
        self.int8_record: dict[str, Any] | None = json.loads(meta[INT8_KEY]) if INT8_KEY in meta else None
        self.input_name = self.session.get_inputs()[0].name
        self.transform = self.info.transforms()

    @property
    def name(self) -> str:  # type: ignore[override]
        return "onnx-int8" if self.int8_record is not None else "onnx-fp32"

    def torch_model(self) -> nn.Module:
        raise ValueError(f"{self.path.name} runs on ONNX Runtime and has no PyTorch model; use backend='torch' "
                         "or 'auto'")

    def prepare(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return self.transform.numpy_batch(crops)

    def flip(self, batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(batch[..., ::-1])

    def probabilities(self, batch: Any) -> np.ndarray:
        if not isinstance(batch, np.ndarray):  # a torch tensor, as Recognizer.preprocess gives
            batch = batch.contiguous().numpy()
        return softmax(self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})[0])


def _onnx_for_precision(weights: str | Path, onnx_path: str | Path | None, precision: str) -> Path:
    """The ONNX model ``backend="onnxruntime"`` runs: ``onnx_path``, else the int8 model beside
    the weights (``auto``: where there is one) or the fp32 one."""
    if onnx_path:
        return Path(onnx_path)
    int8, fp32 = int8_path_for(weights), fp32_onnx_path_for(weights)
    if precision == "int8" or (precision == "auto" and int8.is_file()):
        if not int8.is_file():
            raise FileNotFoundError(f"{int8}: no int8 model; create it with `gclenet export --format onnx --int8 "
                                    f"--weights {weights} --calibration DIR --out {int8}`")
        return int8
    return fp32


def create_backend(name: str, weights: str | Path, *, device: str = "cpu", precision: str = "auto",
                   onnx_path: str | Path | None = None) -> ClassifierEngine:
    """The classifier engine ``name`` (``auto``, ``torch`` or ``onnxruntime``) at ``precision``.

    ``torch`` runs fp32, or bf16 autocast (``auto``: where the hardware is fast at it).
    ``onnxruntime`` runs ``onnx_path``, else the int8 model beside the weights (``auto``:
    where there is one, else the fp32 export). ``auto`` measures which of these is fastest
    here (see :class:`~gclenet.inference.autoselect.AutoBackend`).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if name == "torch":
        if precision == "int8":
            raise ValueError("the torch backend runs fp32 or bf16; int8 runs on --backend onnxruntime or auto")
        return TorchBackend(weights, device=device, precision=precision)
    if name == "onnxruntime":
        if precision == "bf16":
            raise ValueError("the onnxruntime backend runs fp32 or int8 models; bf16 runs on --backend torch")
        return OnnxRuntimeBackend(weights, onnx_path=_onnx_for_precision(weights, onnx_path, precision),
                                  device=device)
    if name == "auto":
        from gclenet.inference.autoselect import AutoBackend

        return AutoBackend(weights, device=device, precision=precision, onnx_path=onnx_path)
    raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
