"""Export MTCNN's three networks (facenet-pytorch's P-, R- and O-Net; their weights ship
inside its wheel) to ONNX, for the torch-free detector (gclenet/inference/mtcnn.py).

The outputs are the small files shipped in gclenet/weights (mtcnn_{pnet,rnet,onet}.onnx,
about 2 MB together); tests/inference/test_mtcnn.py checks them against facenet-pytorch.
Run it again only if facenet-pytorch's weights change:

    python tools/export_mtcnn_onnx.py [--out gclenet/weights]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import onnx
import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

ROOT = Path(__file__).resolve().parents[1]
# name -> (network, example input, output names, dynamic input axes beyond the batch)
NETWORKS = {
    "pnet": (PNet, (2, 3, 40, 50), ["reg", "prob"], {2: "height", 3: "width"}),  # fully convolutional
    "rnet": (RNet, (2, 3, 24, 24), ["reg", "prob"], {}),
    "onet": (ONet, (2, 3, 48, 48), ["reg", "landmarks", "prob"], {}),
}


def export(name: str, out: Path) -> Path:
    network, shape, outputs, spatial = NETWORKS[name]
    model = network(pretrained=True).eval()
    dims = {0: torch.export.Dim("batch")} | {axis: torch.export.Dim(label, min=12) for axis, label in spatial.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        torch.onnx.export(model, (torch.zeros(shape),), str(path), input_names=["image"], output_names=outputs,
                          dynamic_shapes=(dims,), opset_version=18, dynamo=True, external_data=False, verbose=False)
        proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "gclenet_mtcnn", json.dumps({
        "network": name, "source": f"facenet-pytorch {version('facenet-pytorch')} data/{name}.pt (MIT licence), "
                                   "weights of Zhang et al., MTCNN (2016)",
        "input": "RGB, (pixel - 127.5) / 128, NCHW float32"})
    target = out / f"mtcnn_{name}.onnx"
    onnx.save(proto, str(target))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "gclenet" / "weights"))
    args = parser.parse_args()
    for name in NETWORKS:
        print(export(name, Path(args.out)))


if __name__ == "__main__":
    main()
