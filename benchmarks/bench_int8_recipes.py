"""Which int8 recipe keeps the fp32 model's answers best, judged on held-out *training* faces,
so that the recipe is chosen without looking at the validation split it is later measured on.

Calibration faces are drawn as ``gclenet export --int8`` draws them (``calibration_images``,
seed 0); the held-out faces are a second draw (seed 1) from the rest of the same folder.
For each recipe: the int8 model is made from one fp32 export, and its top-1 agreement with
fp32 on the held-out faces is reported (training labels are not used: the model has seen
them, so accuracy there says little).

    python benchmarks/bench_int8_recipes.py --weights default --train ../shared/data/ferplus/FER2013Train
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path

from gclenet.data.folders import list_images
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.export import export_onnx
from gclenet.inference.quantize import calibration_images, evaluate_onnx, quantize_onnx

# name -> (calibration faces, quantize_onnx options); "edges fp32" keeps the first convolution
# and the classifier unquantised (found by op type after ONNX Runtime's pre-processing).
# quantize_onnx's default weights are 7-bit (reduce_range: exact on every x86 and ARM kernel);
# the "8-bit weights" recipes are what saturates on x86 CPUs without VNNI.
RECIPES = {
    "percentile, 8-bit weights": (300, {"method": "percentile", "reduce_range": False}),
    "percentile 1000, 8-bit weights": (1000, {"method": "percentile", "reduce_range": False}),
    "percentile, U8U8": (300, {"method": "percentile", "reduce_range": False, "weight": "uint8"}),
    "percentile 1000, U8U8": (1000, {"method": "percentile", "reduce_range": False, "weight": "uint8"}),
    "minmax": (300, {"method": "minmax"}),
    "minmax 1000": (1000, {"method": "minmax"}),
    "percentile": (300, {"method": "percentile"}),
    "percentile 1000": (1000, {"method": "percentile"}),
    "percentile, edges fp32": (300, {"method": "percentile", "exclude": "edges"}),
    "minmax, convolutions only": (300, {"method": "minmax", "op_types": ["Conv"]}),
    "entropy": (300, {"method": "entropy"}),
}


def _edge_nodes(fp32: Path, tmp: Path) -> list[str]:
    """The first Conv and the last Gemm/MatMul of the model as quantize_onnx sees it (pre-processed)."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = tmp / "prepared.onnx"
    quant_pre_process(str(fp32), str(prepared))
    nodes = onnx.load(str(prepared)).graph.node
    return [next(n.name for n in nodes if n.op_type == "Conv"),
            [n.name for n in nodes if n.op_type in ("Gemm", "MatMul")][-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default")
    parser.add_argument("--train", required=True, help="a folder of training faces (searched recursively)")
    parser.add_argument("--held-out", type=int, default=3000, help="held-out training faces to compare on")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES), metavar="RECIPE",
                        help=f"of: {', '.join(map(repr, RECIPES))}")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    found = list_images(Path(args.train))
    calibration = {n: calibration_images(args.train, n) for n in {count for count, _ in RECIPES.values()}}
    used = set().union(*calibration.values())
    held_out = sorted(random.Random(1).sample([f for f in found if f not in used], args.held_out))
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, weights {args.weights}, {len(held_out)} held-out faces of {len(found)}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fp32 = export_onnx(args.weights, tmp / "fp32.onnx")
        reference = evaluate_onnx(fp32, held_out)
        for name in args.recipes:
            count, options = RECIPES[name]
            options = dict(options)
            if options.get("exclude") == "edges":
                options["exclude"] = _edge_nodes(fp32, tmp)
            start = time.perf_counter()
            try:
                int8 = quantize_onnx(fp32, tmp / "int8.onnx", calibration[count], **options)
            except ValueError as err:  # e.g. entropy on a tensor holding infinities
                results[name] = {"error": str(err)}
                print(f"{name:<28} failed: {err}")
                continue
            agreement = float((evaluate_onnx(int8, held_out) == reference).mean())
            results[name] = {"agreement": agreement, "calibration_faces": count,
                             "seconds": round(time.perf_counter() - start, 1)}
            print(f"{name:<28} top-1 agrees with fp32 on {100 * agreement:.2f} % ({count} calibration faces)")
    if args.json:
        atomic_write_bytes(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))


if __name__ == "__main__":
    main()
