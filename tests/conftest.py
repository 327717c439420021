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
