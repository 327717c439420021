"""gclenet: facial expression recognition with GCLENet (LSDC-FER) in PyTorch."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Recognizer", "create_model"]


def __getattr__(name: str) -> Any:  # lazy: `import gclenet` stays light for the CLI
    if name == "Recognizer":
        from gclenet.inference.recognizer import Recognizer

        return Recognizer
    if name == "create_model":
        from gclenet.models import create_model

        return create_model
    raise AttributeError(f"module 'gclenet' has no attribute {name!r}")
