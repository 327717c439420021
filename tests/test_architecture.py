"""The map of the code holds: the import contracts in pyproject.toml (import-linter), and no
module grows past 500 lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with our pyproject.toml on the ``gclenet`` package found in ``package_parent``."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=package_parent, env=env)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_against_the_arrows_is_caught(tmp_path):
    copy = tmp_path / "gclenet"
    shutil.copytree(ROOT / "gclenet", copy, ignore=shutil.ignore_patterns("*.safetensors", "__pycache__"))
    with open(copy / "inference" / "backends.py", "a") as handle:
        handle.write("\nfrom gclenet.training import config  # noqa: E402  (against the arrows)\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "inference imports no training or cli BROKEN" in result.stdout
    assert "gclenet.inference.backends -> gclenet.training.config" in result.stdout


def test_no_module_is_longer_than_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "gclenet").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_recognising_faces_imports_no_training_export_explain_or_demo_library(random_weights):
    from gclenet.extras import EXTRAS, TORCH

    # torch aside: these weights have no ONNX model, so they run on it (the path without torch
    # is tests/inference/test_without_torch.py's), and export.py imports it at the top.
    optional = sorted({module for packages in EXTRAS.values() for module in packages.values()} - set(TORCH.values()))
    code = ("import sys, numpy as np; from gclenet import Recognizer; import gclenet.inference.video, "
            "gclenet.inference.web, gclenet.inference.cam, gclenet.inference.export; "
            "from gclenet.cli.main import build_parser; build_parser(); "
            f"Recognizer({str(random_weights)!r}, detector='none').predict(np.zeros((48, 48, 3), np.uint8)); "
            f"print(sorted(m for m in {optional!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # each imported inside the functions that need it
