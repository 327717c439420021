"""FER+ folders (the layout FER+'s own script writes) as one small file, and back.

For a GPU machine that is sent only what fits a size limit (64 MiB for this project's device
tool, the repository included): FER+ Training's 28,558 PNGs take 69 MB as files, their pixels as
one xz-compressed uint8 array 48 MiB (measured 2026-12-08; zlib at level 9 leaves 59 MiB). The
file holds the pixels, the image names and the folder's ``label.csv`` byte for byte, so
``unpack`` rebuilds a folder that gclenet's ``ferplus`` reader reads exactly as the original
(lossless PNGs: the same pixels).

    python tools/pack_ferplus.py pack ../shared/data/ferplus/FER2013Train .pack/FER2013Train.npz.xz
    python tools/pack_ferplus.py unpack .pack/FER2013Train.npz.xz /tmp/ferplus   # -> /tmp/ferplus/FER2013Train/

xz at its default preset takes ~8 minutes for FER+ Training on a 2-core CPU; ``--preset`` trades size for time.
"""

from __future__ import annotations

import argparse
import io
import lzma
from pathlib import Path

import numpy as np
from PIL import Image


def pack(folder: Path, out: Path, preset: int = 6) -> Path:
    """Pixels, names and ``label.csv`` of a FER+ folder into ``out`` (xz-compressed ``.npz``)."""
    labels = (folder / "label.csv").read_bytes()
    names = sorted(p.name for p in folder.glob("*.png"))
    if not names:
        raise SystemExit(f"{folder}: no PNG images (expected a FER+ folder such as FER2013Train/)")
    pixels = np.stack([np.asarray(Image.open(folder / n).convert("L")) for n in names])
    buffer = io.BytesIO()
    np.savez(buffer, pixels=pixels, names=np.array(names), labels=np.frombuffer(labels, np.uint8),
             folder=np.array(folder.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(lzma.compress(buffer.getvalue(), preset=preset))
    partial.replace(out)
    return out


def unpack(packed: Path, root: Path) -> Path:
    """The FER+ folder ``packed`` came from, rebuilt under ``root``; returns the folder."""
    with np.load(io.BytesIO(lzma.decompress(packed.read_bytes()))) as data:
        folder = root / str(data["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in zip(data["names"], data["pixels"]):
            Image.fromarray(image).save(folder / str(name))
        (folder / "label.csv").write_bytes(data["labels"].tobytes())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="a FER+ folder -> one .npz.xz file")
    p.add_argument("folder", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--preset", type=int, default=6, help="xz preset, 0 (fast) to 9 (small)")
    u = commands.add_parser("unpack", help="a packed file -> ROOT/<its folder>/")
    u.add_argument("packed", type=Path)
    u.add_argument("root", type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        print(pack(args.folder, args.out, args.preset))
    else:
        print(unpack(args.packed, args.root))


if __name__ == "__main__":
    main()
