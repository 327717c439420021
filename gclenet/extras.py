"""The optional parts of gclenet (pip extras) and what to install when one is missing.

The core install recognises faces (``Recognizer``, ``predict``, ``demo``) on ONNX Runtime,
without torch; the eager PyTorch engine (``--backend torch``), training, export,
explanations, the web demo and runs on Ray need more packages, declared as extras in
``pyproject.toml`` (a test checks that the two lists agree). A command that reaches for a
missing one stops with one line naming the ``pip install`` that brings it. Nothing here
imports any of those packages.
"""

from __future__ import annotations

__all__ = ["EXTRAS", "TORCH", "install_command", "needs", "missing_package_hint"]

# The eager engine and everything built on it; the extras that need it include it
# (pyproject.toml: "gclenet[torch]"), so a missing torch is named with the command's own extra.
TORCH: dict[str, str] = {"torch": "torch", "torchvision": "torchvision", "facenet-pytorch": "facenet_pytorch"}

# extra -> {distribution on PyPI: the module it installs}; "torch" first: a missing torch
# outside any extra's command is named with it.
EXTRAS: dict[str, dict[str, str]] = {
    "torch": TORCH,
    "train": {**TORCH, "lightning": "lightning", "torchmetrics": "torchmetrics", "tensorboard": "tensorboard",
              "matplotlib": "matplotlib"},
    "export": {**TORCH, "onnx": "onnx", "onnxscript": "onnxscript"},
    "explain": {**TORCH, "grad-cam": "pytorch_grad_cam", "matplotlib": "matplotlib"},
    "demo": {"gradio": "gradio"},
    "scale": {"ray": "ray", "pyarrow": "pyarrow"},  # predict --runner ray (Ray Data), Parquet results
}


def install_command(extra: str) -> str:
    # Quoted: unquoted square brackets are a glob in zsh, the default shell on macOS.
    return f"pip install 'gclenet[{extra}]'"


def needs(extra: str, what: str = "This command") -> str:
    """A sentence for a command's ``--help``: which extra it needs and how to install it."""
    return f"{what} needs the [{extra}] extra: {install_command(extra)}"


def missing_package_hint(module: str | None, extra: str | None = None) -> str | None:
    """One line for a ``ModuleNotFoundError`` of ``module``: the extra that provides it
    (``extra``, the running command's, when that one does), or ``None`` when no extra does
    (then it is not a missing option but a broken install or a bug, and the error stands)."""
    top = (module or "").partition(".")[0]
    providers = [name for name, packages in EXTRAS.items() if top in packages.values()]
    if not providers:
        return None
    chosen = extra if extra in providers else providers[0]
    return f"{top} is not installed; this needs the [{chosen}] extra: {install_command(chosen)}"
