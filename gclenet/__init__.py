"""gclenet: facial expression recognition with GCLENet (LSDC-FER) in PyTorch."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Recognizer", "create_model", "load"]


def __getattr__(name: str) -> Any:  # lazy: `import gclenet` stays light for the CLI
    if name == "Recognizer":
        from gclenet.inference.recognizer import Recognizer

        return Recognizer
    if name in ("create_model", "load"):
        import gclenet.models

        return getattr(gclenet.models, name)
    raise AttributeError(f"module 'gclenet' has no attribute {name!r}")
