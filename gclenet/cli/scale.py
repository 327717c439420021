"""``gclenet predict --runner ray``: the options of a run on Ray Data, and the run.

The recognising itself is :mod:`gclenet.inference.distributed`; here the command line's
inputs and options become its arguments, and its summary a line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gclenet.cli.common import folder
from gclenet.extras import needs

__all__ = ["add_scale_arguments", "check_scale_arguments", "run_predict_ray"]

# Options of the local runner that the Ray runner does not offer (yet): refused, not ignored.
LOCAL_ONLY = {"json": "--json", "csv": "--csv", "out": "--out", "webcam": "--webcam"}


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give at least 1")
    return value


def add_scale_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("many inputs", "lists of inputs, and runs on Ray Data (--runner ray: "
                                 f"{needs('scale', 'it')})")
    group.add_argument("--inputs-from", metavar="FILE",
                       help="also the inputs this file lists: a text file (a path per line), or a column of a CSV "
                            "or Parquet file (--column)")
    group.add_argument("--column", default="file", help="the column of paths in a CSV/Parquet --inputs-from")
    group.add_argument("--runner", choices=["local", "ray"], default="local",
                       help="local: this process; ray: Ray Data actors on this machine or a Ray cluster, the "
                            "results as Parquet in --parquet, resumable")
    group.add_argument("--parquet", type=folder, metavar="DIR",
                       help="--runner ray: the results folder (a rerun skips the inputs it holds)")
    group.add_argument("--workers", type=positive,
                       help="--runner ray: Recognizer actors (default: one per --threads CPUs Ray reports)")
    group.add_argument("--threads", type=positive, default=1, help="--runner ray: threads of each worker")
    # 256 = distributed.PART_SIZE (not imported: building the parser stays free of pyarrow)
    group.add_argument("--part-size", type=positive, default=256, metavar="N",
                       help="--runner ray: images per Parquet part (a kill loses at most a part per worker)")
    group.add_argument("--address",
                       help="--runner ray: the Ray cluster (auto, ray://HOST:10001; default: Ray started here)")


def check_scale_arguments(args: argparse.Namespace) -> None:
    """Refuse options that do not fit the runner, before anything is loaded.

    Raises:
        ValueError: one line naming the options.
    """
    if args.runner == "ray":
        given = [flag for name, flag in LOCAL_ONLY.items() if getattr(args, name) not in (None, False)]
        if given:
            raise ValueError(f"--runner ray writes its results to --parquet DIR; {', '.join(given)} "
                             "work with --runner local")
        if not args.parquet:
            raise ValueError("--runner ray needs --parquet DIR, the folder its results go to")
    else:
        given = [flag for flag in ("parquet", "workers", "address") if getattr(args, flag) is not None]
        if given:
            raise ValueError(f"{', '.join('--' + g for g in given)}: only with --runner ray")


def run_predict_ray(args: argparse.Namespace, files: list[Path]) -> int:
    """Recognise the images ``files`` on Ray; 0 if any could be read, 1 if none."""
    import ray  # noqa: F401  (first: without the [scale] extra, one line naming it, nothing written)

    from gclenet.inference.distributed import recognise_on_ray
    from gclenet.inference.sources import is_video
    from gclenet.models.weights import resolve_weights

    videos = [f for f in files if is_video(f)]
    if videos:  # why Ray does not take them: gclenet/inference/distributed.py's docstring
        raise ValueError(f"--runner ray recognises images; {len(videos)} video(s) among the inputs (e.g. "
                         f"{videos[0]}): run them with --runner local")
    settings = {"weights": str(Path(resolve_weights(args.weights)).resolve()), "device": args.device,
                "detector": args.detector, "backend": args.backend, "precision": args.precision,
                "onnx_path": str(Path(args.onnx).resolve()) if args.onnx else None,
                "min_face_size": args.min_face_size, "tta": args.tta}
    # Absolute paths: the workers may run elsewhere (in another folder, on another machine).
    summary = recognise_on_ray([str(Path(f).absolute()) for f in files], args.parquet, settings,
                               workers=args.workers, threads=args.threads, batch_size=args.batch_size,
                               part_size=args.part_size, address=args.address, progress=len(files) > 1)
    print(f"gclenet predict: {summary.text()}; results in {args.parquet}", file=sys.stderr)
    return 1 if summary.errors and summary.errors == summary.processed and not summary.skipped else 0
