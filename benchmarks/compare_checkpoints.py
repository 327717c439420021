"""Paired comparison of checkpoints on one data set split: each one's accuracy and, against
the first, how often their top-1 agrees, how many images only one of the two gets right and the exact McNemar p-value
(a two-sided binomial test on those disagreements). Tells a real gain from noise when two
runs differ by half a point on the same 3,589 images. With ``--ensemble``, one more row: the mean
of all the checkpoints' probabilities (what a distillation of them aims at), against the first.
``--split held-out`` scores the part of the training split the runs held out (each run's own
record says which: give runs that held out the same faces).

    python benchmarks/compare_checkpoints.py --root ../shared/data/fer2013 \
        runs/fer2013_gclenet_e30_c2/checkpoints/last.ckpt runs/fer2013_gclenet_e30_c2_swa/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import json

import torch
from scipy.stats import binomtest

from gclenet.training.evaluate import predict_checkpoint


def probs_and_labels(checkpoint: str, dataset: str, root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    probs, labels, _, _ = predict_checkpoint(checkpoint, dataset, root, split=split, progress=False)
    return probs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="the first is the reference")
    parser.add_argument("--dataset", default="fer2013")
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--ensemble", action="store_true", help="add the mean of all their probabilities as a row")
    args = parser.parse_args()
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints")
    scored = [probs_and_labels(c, args.dataset, args.root, args.split) for c in args.checkpoints]
    names = list(args.checkpoints)
    if any(not torch.equal(labels, scored[0][1]) for _, labels in scored):
        raise SystemExit("the checkpoints were scored on different images (held out other faces?): "
                         "compare runs that share their split")
    if args.ensemble:
        scored.append((torch.stack([probs for probs, _ in scored]).mean(0), scored[0][1]))
        names.append(f"mean of the {len(args.checkpoints)}")
    answers = [(probs.argmax(1), labels) for probs, labels in scored]
    reference, reference_top1 = answers[0][0] == answers[0][1], answers[0][0]
    rows = []
    for checkpoint, (top1, labels) in zip(names, answers):
        right = top1 == labels
        only_this = int((right & ~reference).sum())
        only_reference = int((reference & ~right).sum())
        disagreements = only_this + only_reference
        p = binomtest(only_this, disagreements, 0.5).pvalue if disagreements else 1.0
        rows.append({"checkpoint": checkpoint, "images": len(right), "accuracy": right.float().mean().item(),
                     "top1_agreement": (top1 == reference_top1).float().mean().item(), "only_this_right": only_this, "only_reference_right": only_reference, "mcnemar_p": p})
    print("| checkpoint | accuracy | top-1 agrees with the first | only this right | only reference right | McNemar p |"
          "\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['checkpoint']} | {100 * row['accuracy']:.2f} % | {100 * row['top1_agreement']:.2f} % | "
              f"{row['only_this_right']} | "
              f"{row['only_reference_right']} | {row['mcnemar_p']:.3f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
