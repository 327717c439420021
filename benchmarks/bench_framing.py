"""The framing gap: the whole pipeline (detector, margin, alignment, classifier) on faces
placed in larger pictures, beside the same faces classified directly as cropped.

Each face of a split of already-cropped faces (FER+ Valid by default) is upscaled and
pasted, with feathered edges, at a random place on a random crop of one of
scikit-image's bundled non-face photos (coffee, cat, rocket, brick, ...). The detector
runs once per picture; each (margin, align) setting then crops the detected face and
classifies it. The same faces through ``Recognizer(detector="none")`` are the reference.

Three numbers per setting: the framing gap (direct minus pipeline accuracy on the faces
the detector found, so the same faces on both sides), the pipeline's accuracy over all
faces (a face not found counts as wrong), and how often it gives the direct answer. The
detector's miss rate is reported on its own: MTCNN misses some of FER's tightly cropped,
tilted or half-hidden faces whatever the classifier does. The margin that makes the
detector's square crop as large as the data set's own framing (median over found faces)
is printed too: it is measured from geometry alone, no labels.

    python benchmarks/bench_framing.py --root ../shared/data/ferplus --weights default \
        --margins 0 0.1 0.2 0.3 --json framing.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from PIL import Image

from gclenet.data.image_io import load_image
from gclenet.data.registry import read_split
from gclenet.fileio import atomic_write_bytes
from gclenet.inference.detection import crop_face
from gclenet.inference.recognizer import Recognizer

FEATHER = 0.03  # the pasted face's edges fade over this fraction of its side
BACKGROUNDS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "moon", "clock", "coins",
               "hubble_deep_field", "immunohistochemistry")


def backgrounds() -> list[np.ndarray]:
    """scikit-image's bundled photos without faces, as RGB uint8."""
    import skimage.data

    out = []
    for name in BACKGROUNDS:
        array = getattr(skimage.data, name)()
        array = np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]
        out.append(np.ascontiguousarray(array.astype(np.uint8)))
    return out


def place_face(face: np.ndarray, backdrop: np.ndarray, rng: np.random.Generator, *, face_size: int,
               canvas: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``face`` upscaled to ``face_size`` and pasted with feathered edges at a random place of a
    ``canvas``-sided random crop of ``backdrop`` (resized up if smaller); returns the picture and the face's box."""
    scale = max(1.0, canvas / min(backdrop.shape[:2]))
    if scale > 1.0:
        backdrop = np.asarray(Image.fromarray(backdrop).resize(
            (round(backdrop.shape[1] * scale) + 1, round(backdrop.shape[0] * scale) + 1), Image.BICUBIC))
    top = rng.integers(0, backdrop.shape[0] - canvas + 1)
    left = rng.integers(0, backdrop.shape[1] - canvas + 1)
    picture = backdrop[top:top + canvas, left:left + canvas].astype(np.float32)
    big = np.asarray(Image.fromarray(face).convert("RGB").resize((face_size, face_size), Image.BICUBIC), np.float32)
    ramp = np.minimum(np.arange(face_size), np.arange(face_size)[::-1]) / (FEATHER * face_size)
    alpha = np.clip(np.minimum.outer(ramp, ramp), 0.0, 1.0)[..., None]
    y, x = rng.integers(0, canvas - face_size + 1, size=2)
    region = picture[y:y + face_size, x:x + face_size]
    picture[y:y + face_size, x:x + face_size] = alpha * big + (1 - alpha) * region
    return picture.round().astype(np.uint8), (int(x), int(y), int(x + face_size), int(y + face_size))


def _overlap(box: list[float], truth: tuple[int, int, int, int]) -> float:
    x1, y1 = max(box[0], truth[0]), max(box[1], truth[1])
    x2, y2 = min(box[2], truth[2]), min(box[3], truth[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (truth[2] - truth[0]) * (truth[3] - truth[1]) - inter
    return inter / area if area > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ferplus")
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--face-size", type=int, default=144, help="side of the upscaled face, pixels")
    parser.add_argument("--canvas", type=int, default=400, help="side of the picture, pixels")
    parser.add_argument("--limit", type=int, help="a fixed random subset of N faces (a quick look)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    direct = Recognizer(args.weights, detector="none", precision="fp32")
    pipeline = Recognizer(args.weights, detector=args.detector, precision="fp32")
    samples = read_split(args.dataset, args.root, args.split, direct.classes)
    rng = np.random.default_rng(args.seed)
    if args.limit and args.limit < len(samples):
        samples = [samples[i] for i in sorted(rng.choice(len(samples), args.limit, replace=False))]
    labels = np.array([s.label for s in samples])
    faces = [s.source if isinstance(s.source, np.ndarray) else np.asarray(load_image(s.source, "RGB")) for s in samples]
    direct_pred = np.concatenate([direct.classify(faces[i:i + 256]).argmax(1) for i in range(0, len(faces), 256)])

    backdrops = backgrounds()
    settings = [(m, a) for m in args.margins for a in (True, False)]
    predictions = {s: np.full(len(samples), -1) for s in settings}
    found, start = np.zeros(len(samples), bool), time.perf_counter()
    framing_margins: list[float] = []
    for begin in range(0, len(samples), args.batch):
        batch = range(begin, min(begin + args.batch, len(samples)))
        placed = [place_face(faces[i], backdrops[rng.integers(len(backdrops))], rng, face_size=args.face_size,
                             canvas=args.canvas) for i in batch]
        detections = pipeline.detector.detect_batch([p for p, _ in placed])
        chosen = {}
        for i, (picture, truth), candidates in zip(batch, placed, detections):
            best = max(candidates, key=lambda f: _overlap(f.box, truth), default=None)
            if best is not None and _overlap(best.box, truth) > 0.3:
                chosen[i] = (picture, best)
                side = max(best.box[2] - best.box[0], best.box[3] - best.box[1])
                framing_margins.append(((truth[2] - truth[0]) / side - 1) / 2)
        found[list(chosen)] = True
        for margin, align in settings:
            crops = [crop_face(picture, face, margin=margin, align=align) for picture, face in chosen.values()]
            if crops:
                predictions[(margin, align)][list(chosen)] = pipeline.classify(crops).argmax(1)
        print(f"\r{batch.stop}/{len(samples)} pictures, {found[:batch.stop].mean():.1%} faces found", end="", flush=True)
    print(f" ({time.perf_counter() - start:.0f} s)")

    right = direct_pred == labels
    direct_acc, direct_found_acc = float(right.mean()), float(right[found].mean())
    rows = []
    for margin, align in settings:
        pipeline_right = predictions[(margin, align)] == labels
        rows.append({"margin": margin, "align": align, "found_accuracy": float(pipeline_right[found].mean()),
                     "gap_points": 100 * (direct_found_acc - float(pipeline_right[found].mean())),
                     "all_accuracy": float(pipeline_right.mean()),
                     "agreement_with_direct": float((predictions[(margin, align)] == direct_pred)[found].mean())})
    framing_margin = float(np.median(framing_margins)) if framing_margins else float("nan")
    print(f"{args.dataset} {args.split}, {len(samples)} faces, weights {args.weights}; {args.face_size} px faces on "
          f"{args.canvas} px pictures; {args.detector} found {found.mean():.2%} of them")
    print(f"margin that matches the data set's framing (median over found faces): {framing_margin:.3f}")
    print(f"direct (no detector): {direct_acc:.2%} on all faces, {direct_found_acc:.2%} on the faces found")
    print(f"{'pipeline setting':<28}{'found faces':>12}{'gap (points)':>14}{'all faces':>11}{'same as direct':>16}")
    for row in rows:
        name = f"margin {row['margin']:.2f}, {'aligned' if row['align'] else 'not aligned'}"
        print(f"{name:<28}{row['found_accuracy']:>12.2%}{row['gap_points']:>14.2f}{row['all_accuracy']:>11.2%}"
              f"{row['agreement_with_direct']:>16.2%}")
    if args.json:
        result = {"dataset": args.dataset, "split": args.split, "faces": len(samples), "weights": args.weights,
                  "detector": args.detector, "face_size": args.face_size, "canvas": args.canvas, "seed": args.seed,
                  "found": float(found.mean()), "framing_margin": framing_margin, "direct_accuracy": direct_acc,
                  "direct_accuracy_found": direct_found_acc, "pipeline": rows}
        atomic_write_bytes(args.json, lambda f: f.write(json.dumps(result, indent=2).encode()))


if __name__ == "__main__":
    main()
