"""``gclenet info``: versions, this machine, the weights, and the classifier backend ``auto`` picks here."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, this machine, the weights and the classifier backend auto picks here")
    p.add_argument("--weights", default="default", help="shipped weights (default), a .ckpt or .safetensors")
    p.add_argument("--refresh", action="store_true", help="measure the backends again (a few seconds)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)


def _int8_line(path: object, record: dict | None) -> str:
    if record is None:
        return "int8 model: none (make one: gclenet export --format onnx --int8 --calibration DIR --validate ...)"
    validation = record.get("validation")
    if not validation:
        return f"int8 model: {path} (not validated: auto does not use it)"
    return (f"int8 model: {path}; on {validation.get('data') or 'the validation data'}: accuracy "
            f"{validation['accuracy_int8']:.2%} vs fp32 {validation['accuracy_fp32']:.2%} "
            f"({-validation['accuracy_drop_points']:+.2f} points), top-1 agreement {validation['agreement']:.2%}")


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from gclenet.cli.main import versions
    from gclenet.hardware import describe_cpu
    from gclenet.inference.autoselect import CANDIDATES, ENV_BACKEND, AutoBackend
    from gclenet.inference.cache import cache_dir
    from gclenet.models.weights import resolve_weights

    backend = AutoBackend(args.weights, refresh=args.refresh)
    engine = backend._engines.get("onnx-int8")
    int8 = backend.files["onnx-int8"]
    record = engine.int8_record if engine else None
    if record is None and int8.is_file():  # measured and not chosen: read its record again
        from gclenet.inference.backends import OnnxRuntimeBackend

        record = OnnxRuntimeBackend(backend.weights, onnx_path=int8).int8_record
    info = backend.info
    if args.json:
        print(json.dumps({"versions": versions(), "cpu": describe_cpu(), "weights": str(resolve_weights(args.weights)),
                          "model": info.model_name, "classes": list(info.classes), "input_size": info.input_size,
                          "int8_model": str(int8) if int8.is_file() else None, "int8": record,
                          "cache": str(cache_dir()),
                          "backends": {b: s.to_dict() for b, s in backend.selections.items()}}, indent=2))
        return 0
    print(versions())
    print(f"machine: {describe_cpu()}")
    print(f"weights: {backend.weights} ({info.model_name}, {len(info.classes)} classes, "
          f"{info.input_size} px{', gray' if info.grayscale else ''})")
    print(_int8_line(int8 if int8.is_file() else None, record))
    for line in backend.describe():
        print(line)
    checked = next((s for s in backend.selections.values() if s.checks), None)
    for line in checked.describe_checks() if checked else []:
        print(line)
    if any(s.source == "measured" for s in backend.selections.values()):
        print(f"(measured now; cached in {cache_dir()})", file=sys.stderr)
    print(f"measure again: gclenet info --refresh; force one: {ENV_BACKEND}=<{'|'.join(CANDIDATES)}>")
    return 0
