"""Inference engines for the deploy model: eager PyTorch or ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gclenet.hardware import fast_bf16_available
from gclenet.models.weights import WeightsInfo, load, read_weights_info

__all__ = ["TorchBackend", "OnnxRuntimeBackend", "create_backend", "BACKENDS"]

BACKENDS = ("torch", "onnxruntime")


class TorchBackend:
    """The re-parameterised model under ``torch.inference_mode``, channels-last."""

    def __init__(self, weights: str | Path, *, device: str = "cpu", precision: str = "auto") -> None:
        model, self.info = load(weights, reparameterize=True)
        self.device = torch.device(device)
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
        self.bf16 = precision == "bf16" or (precision == "auto" and fast_bf16_available(self.device.type))

    @torch.inference_mode()
    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            logits = self.model(batch.to(self.device))
        return logits.float().softmax(dim=1).cpu().numpy()


class OnnxRuntimeBackend:
    """An exported ONNX model (``gclenet export --format onnx``) on ONNX Runtime."""

    def __init__(self, weights: str | Path, *, onnx_path: str | Path | None = None, device: str = "cpu") -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("the onnxruntime backend needs: pip install onnxruntime") from None
        path = Path(onnx_path) if onnx_path else Path(weights).with_suffix(".onnx")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no ONNX model; create it with "
                                    f"`gclenet export --format onnx --weights {weights} --out {path}`")
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info: WeightsInfo = WeightsInfo.from_json(meta["gclenet"]) if "gclenet" in meta else \
            read_weights_info(weights)
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: batch.contiguous().numpy()})[0]
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def create_backend(name: str, weights: str | Path, *, device: str = "cpu", precision: str = "auto",
                   onnx_path: str | Path | None = None) -> TorchBackend | OnnxRuntimeBackend:
    if name == "torch":
        return TorchBackend(weights, device=device, precision=precision)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(weights, onnx_path=onnx_path, device=device)
    raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


