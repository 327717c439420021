"""gclenet: facial expression recognition with GCLENet (LSDC-FER) in PyTorch."""

__version__ = "0.1.0"
