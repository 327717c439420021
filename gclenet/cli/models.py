"""``gclenet complexity``, ``export`` and ``cam``: the model library and trained weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gclenet.cli.common import add_command
from gclenet.inference.detection import DETECTORS
from gclenet.inference.export import EXPORT_FORMATS

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    # The variants are built in torch (the --plot's matplotlib is named with [train] if missing).
    p = add_command(sub, "complexity", "parameters and MACs of the four main variants, beside the paper's",
                    extra="torch")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=7)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--plot", metavar="PNG", help="also draw parameters and MACs as bar charts (paper Fig. 14-15)")
    p.set_defaults(func=_cmd_complexity)

    p = add_command(sub, "export", "export trained weights: safetensors, ONNX (fp32 or int8) or TorchScript",
                    extra="export")  # every format loads the model in torch; ONNX needs onnx too
    p.add_argument("--weights", required=True, help="a run's .ckpt, exported .safetensors or a shipped name")
    p.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="safetensors: metadata beside the checkpoint's record, e.g. accuracy='{\"ferplus test\": 0.86}' "
                        "(a JSON object) or any other key as text")
    p.add_argument("--int8", action="store_true",
                   help="onnx: the int8 inference model (ONNX Runtime static quantization of weights and activations, "
                        "calibrated on --calibration)")
    p.add_argument("--int8-storage", action="store_true",
                   help="safetensors: store large weights as int8 with per-channel scales (half the size of fp16, "
                        "read back as float32: a smaller file, the same float model)")
    p.add_argument("--calibration", metavar="DIR", help="onnx --int8: a folder of training faces to calibrate on")
    p.add_argument("--calibration-count", type=int, default=300, help="faces drawn from --calibration (seed 0)")
    p.add_argument("--validate", nargs=3, metavar=("DATASET", "ROOT", "SPLIT"),
                   help="onnx --int8: measure fp32 against int8 on this split and record it in the file; "
                        "backend auto uses int8 only where this recorded a drop of at most 0.5 points")
    p.set_defaults(func=_cmd_export)

    p = add_command(sub, "cam", "Grad-CAM of gclenet (and optionally plain ResNet-34) on faces, like Fig. 13",
                    extra="explain")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True, help="folder for one PNG per image")
    p.add_argument("--weights", default="default", help="the gclenet weights (default: shipped)")
    p.add_argument("--baseline", action="append",
                   help="a checkpoint to show beside it, e.g. plain ResNet-34 (repeat for more columns)")
    p.add_argument("--detector", choices=DETECTORS, default="mtcnn")
    p.add_argument("--corruption", action="append", metavar="FAMILY[@SEVERITY]",
                   help="add a row with the face corrupted, e.g. eyes, mouth, rotation@30 (as in `robustness`)")
    p.add_argument("--names", nargs="+", help="column titles: --weights' model, then each --baseline's")
    p.set_defaults(func=_cmd_cam)


def _cmd_complexity(args: argparse.Namespace) -> int:
    import json

    from gclenet.models.complexity import MAIN_VARIANTS, PAPER, measure_complexity

    rows = [measure_complexity(n, input_size=args.input_size, num_classes=args.num_classes) for n in MAIN_VARIANTS]
    if args.plot:
        from gclenet.training.plots import plot_complexity

        plot_complexity([r.to_dict() for r in rows], PAPER, args.plot, input_size=args.input_size)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps({"input_size": args.input_size, "num_classes": args.num_classes,
                          "variants": [r.to_dict() for r in rows]}, indent=2))
        return 0
    print(f"GCLENet variants at {args.input_size}x{args.input_size}, {args.num_classes} classes "
          "(MACs: torch.utils.flop_counter on the deploy model; paper: thop at 224)")
    print(f"{'variant':<13}{'params':>12}{'deploy':>12}{'paper':>9}{'MACs deploy':>14}{'(attention)':>13}{'paper FLOPs':>13}")
    for r in rows:
        paper = PAPER[r.name]
        flops = f"{paper['flops_m']:.0f} M" if paper["flops_m"] else "-"
        print(f"{r.name:<13}{r.params / 1e6:>10.3f} M{r.params_deploy / 1e6:>10.3f} M{paper['params_m']:>7.2f} M"
              f"{r.macs_deploy / 1e6:>12.0f} M{r.attention_macs / 1e6:>11.1f} M{flops:>13}")
    return 0


def _metadata(items: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` pairs kept as the text the user typed: a date or "64.39" is a label
    in the weights' metadata, not a value to convert (and a date is not even JSON). A
    JSON object (``accuracy={"ferplus test": 0.86}``) is kept as the object it spells."""
    import json

    pairs: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--meta {item!r}: expected KEY=VALUE")
        pairs[key] = value
        if value.lstrip().startswith("{"):
            try:
                pairs[key] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"--meta {key}: {value!r} starts like a JSON object but is not one") from None
    return pairs


def _cmd_export(args: argparse.Namespace) -> int:
    from gclenet.inference import export

    if (args.calibration or args.validate) and not (args.int8 and args.format == "onnx"):
        raise ValueError("--calibration and --validate are for --format onnx --int8")
    if args.int8_storage and args.format != "safetensors":
        raise ValueError("--int8-storage is for --format safetensors; the int8 inference model is --format onnx --int8")
    if args.format == "safetensors":
        if args.int8:
            raise ValueError("--int8 makes the int8 inference model (--format onnx); for int8 storage of "
                             "safetensors weights: --int8-storage")
        path = export.export_weights(args.weights, args.out, int8=args.int8_storage, **_metadata(args.meta))
    elif args.format == "onnx" and args.int8:
        path = _export_int8(args)
    elif args.format == "onnx":
        path = export.export_onnx(args.weights, args.out)
    elif args.int8:
        raise ValueError("--int8 is for --format onnx")
    else:
        path = export.export_torchscript(args.weights, args.out)
    print(path)
    return 0


def _export_int8(args: argparse.Namespace) -> Path:
    from gclenet.inference.quantize import INT8_KEY, export_int8_onnx, read_onnx_metadata

    if not args.calibration:
        raise ValueError("--int8 needs --calibration DIR: training faces to calibrate the activation ranges on")
    validation = name = None
    if args.validate:
        from gclenet.data.registry import read_split
        from gclenet.models import read_weights_info

        dataset, root, split = args.validate
        validation = read_split(dataset, root, split, read_weights_info(args.weights).classes)
        name = f"{dataset} {split}"
    path = export_int8_onnx(args.weights, args.out, calibration=args.calibration, count=args.calibration_count,
                            validation=validation, validation_name=name)
    record = read_onnx_metadata(path)[INT8_KEY].get("validation")
    if record:
        print(f"{name}: fp32 {record['accuracy_fp32']:.2%}, int8 {record['accuracy_int8']:.2%} "
              f"({-record['accuracy_drop_points']:+.2f} points), top-1 agreement {record['agreement']:.2%} "
              f"on {record['images']} images", file=sys.stderr)
    else:
        print("not validated: backend auto will not choose this model (pass --validate DATASET ROOT SPLIT)",
              file=sys.stderr)
    return path


def _cmd_cam(args: argparse.Namespace) -> int:
    from gclenet.data.corruptions import parse_corruption
    from gclenet.data.image_io import ImageLoadError
    from gclenet.inference.cam import cam_figure
    from gclenet.inference.outputs import mirrored_paths, output_prefixes
    from gclenet.inference.recognizer import Recognizer

    try:
        corruptions = [parse_corruption(spec) for spec in args.corruption or []]
    except ValueError as err:
        print(f"gclenet cam: {err}", file=sys.stderr)
        return 2
    checkpoints = [args.weights] + (args.baseline or [])
    names = args.names or ["gclenet"] + (["resnet34"] if len(checkpoints) == 2 else
                                          [f"model {i}" for i in range(1, len(checkpoints))])
    if len(names) != len(checkpoints) or len(set(names)) != len(names):
        print(f"gclenet cam: --names needs {len(checkpoints)} different names (--weights, then each --baseline)",
              file=sys.stderr)
        return 2
    recognizers = {name: Recognizer(c, detector=args.detector, backend="torch", precision="fp32")
                   for name, c in zip(names, checkpoints)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    relative = mirrored_paths(args.images, [Path(image) for image in args.images])
    prefixes = output_prefixes(list(relative.values()))  # the input tree mirrored: a/face.jpg -> OUT/a/face.cam.png
    for image in args.images:
        try:
            prefix = prefixes[relative[Path(image)]]
            print(cam_figure(image, recognizers, out / prefix.with_name(prefix.name + ".cam.png"), corruptions))
            done += 1
        except (ImageLoadError, ValueError) as err:
            print(f"gclenet cam: {err}", file=sys.stderr)
    return 0 if done else 1
