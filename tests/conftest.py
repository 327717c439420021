import os

import pytest
import torch

from gclenet.data.classes import BASIC_CLASSES
from gclenet.inference.export import save_weights
from gclenet.models import IMAGENET_MEAN, IMAGENET_STD, WeightsInfo, create_model


# Local servers (web demo tests) must not go through a proxy a CI machine may set, and
# Gradio must not try to report usage from a machine without internet.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory):
    """gclenet's cache (folded weights, backend timings) in a folder of the test session's,
    also for the processes tests start: never the user's ~/.cache/gclenet."""
    previous = os.environ.get("GCLENET_CACHE_DIR")
    os.environ["GCLENET_CACHE_DIR"] = str(tmp_path_factory.mktemp("gclenet_cache"))
    yield
    if previous is None:
        os.environ.pop("GCLENET_CACHE_DIR", None)
    else:
        os.environ["GCLENET_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _quiet_machine(monkeypatch):
    """The engine measurement in this process sees a quiet machine: tests run beside each other
    and other work, and a busy machine's figures are measured again by the next run."""
    from gclenet.inference import autoselect

    monkeypatch.setattr(autoselect, "_busy", lambda: False)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomize_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics and affine terms, so folding bugs cannot hide."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def weights_info(**changes):
    info = {"classes": list(BASIC_CLASSES), "input_size": 48, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "model_name": "gclenet", "model_overrides": {}, "grayscale": True}
    return WeightsInfo.from_dict({**info, **changes})


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """An untrained gclenet (non-zero branches) saved like shipped weights."""
    torch.manual_seed(0)
    model = create_model("gclenet", zero_init_branches=False).eval()
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    return save_weights(model, weights_info(), path, half=False)


def smooth_faces(count, seed, size=48):
    """Smooth random 'faces' (blurred noise, various sizes): activations like an image's, not white noise's."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        side = size + 8 * (i % 3)
        noise = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
        out.append(np.asarray(noise.filter(ImageFilter.GaussianBlur(2))))
    return out


def make_int8_model(folder, size=48):
    """Random weights (non-zero branches) at input ``size`` with their fp32 ONNX export beside
    them (``w.onnx``) and an int8 one (``w.int8.onnx``), validated on faces labelled by the
    fp32 model itself (needs onnx and onnxscript: export tooling)."""
    from types import SimpleNamespace

    from gclenet.data.registry import Sample
    from gclenet.inference.export import export_onnx
    from gclenet.inference.quantize import evaluate_onnx, export_int8_onnx

    torch.manual_seed(0)
    weights = save_weights(create_model("gclenet", zero_init_branches=False).eval(),
                           weights_info(input_size=size), folder / "w.safetensors", half=False)
    fp32 = export_onnx(weights, folder / "w.onnx")
    faces = smooth_faces(40, 2, size)
    labels = evaluate_onnx(fp32, faces)
    int8 = export_int8_onnx(weights, folder / "w.int8.onnx", calibration=smooth_faces(32, 3, size),
                            validation=[Sample(f, int(y)) for f, y in zip(faces, labels)], validation_name="own",
                            fp32=fp32)
    return SimpleNamespace(size=size, weights=weights, fp32=fp32, int8=int8, faces=faces)


@pytest.fixture(scope="session")
def int8_model_48(tmp_path_factory):
    """:func:`make_int8_model` at 48 px, once per session."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    return make_int8_model(tmp_path_factory.mktemp("int8_48"))
