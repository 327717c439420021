"""tools/pack_ferplus.py: a FER+ folder packed into one file and unpacked reads as the original."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from gclenet.data import read_split
from gclenet.data.image_io import load_image
from tests.data.layouts import ferplus_folders

TOOL = Path(__file__).resolve().parents[1] / "tools" / "pack_ferplus.py"


def _tool():
    spec = importlib.util.spec_from_file_location("pack_ferplus", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_packed_folder_unpacks_to_the_same_samples_and_pixels(tmp_path):
    rows = [[6, 1, 0, 0, 0, 0, 0, 0, 3, 0], [0, 8, 2, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 9, 1, 0, 0, 0, 0]]
    original = ferplus_folders(tmp_path / "original", {"Train": rows})
    tool = _tool()
    packed = tool.pack(original / "FER2013Train", tmp_path / "pack" / "train.npz.xz", preset=0)
    assert packed.is_file() and not list(packed.parent.glob("*.partial"))
    folder = tool.unpack(packed, tmp_path / "copy")
    assert folder == tmp_path / "copy" / "FER2013Train"
    assert (folder / "label.csv").read_bytes() == (original / "FER2013Train" / "label.csv").read_bytes()
    before = read_split("ferplus", original, "train", label_mode="crossentropy")
    after = read_split("ferplus", tmp_path / "copy", "train", label_mode="crossentropy")
    assert [(s.source.name, s.label, s.target) for s in before] == [(s.source.name, s.label, s.target) for s in after]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(np.asarray(load_image(a.source, "L")), np.asarray(load_image(b.source, "L")))
