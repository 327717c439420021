"""``gclenet data list``, ``summary`` and ``check``: the registered data sets, and one on disk."""

from __future__ import annotations

import argparse
import sys

from gclenet.cli.common import datasets_help, options

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    datasets = datasets_help()
    data = sub.add_parser("data", help="inspect data sets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("list", help="the registered data sets: classes, gray or colour, splits, layout read")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_list)

    p = data.add_parser("summary", help="images per split and class after mapping; unreadable files")
    p.add_argument("--dataset", required=True, help=datasets)
    p.add_argument("--root", required=True)
    p.add_argument("--classes", nargs="*", help="class list (default: the data set's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--no-check", action="store_true", help="count files without decoding them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_summary)

    p = data.add_parser("check", help="unreadable files, train/test duplicates (exit 1 on a leak), imbalance")
    p.add_argument("--dataset", required=True, help=datasets)
    p.add_argument("--root", required=True)
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument("--classes", nargs="*", help="class list (default: the data set's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_check)


def _cmd_data_list(args: argparse.Namespace) -> int:
    import json

    from gclenet.data import get_dataset_spec, list_datasets

    specs = [get_dataset_spec(name) for name in list_datasets()]
    if args.json:
        print(json.dumps([{"name": s.name, "classes": list(s.classes), "grayscale": s.grayscale, "layout": s.layout,
                           "splits": list(s.splits)} for s in specs], indent=2))
        return 0
    for spec in specs:
        print(f"{spec.name:<10} {'gray' if spec.grayscale else 'colour':<7} {len(spec.classes)} classes, "
              f"splits {', '.join(spec.splits)}: {spec.layout}")
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    import json

    from gclenet.data.summary import summarize_dataset

    summary = summarize_dataset(args.dataset, args.root, classes=args.classes, options=options(args.option),
                                check_images=not args.no_check, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    classes = summary["classes"]
    print(f"{summary['dataset']} at {summary['root']}")
    print(f"{'split':<8}" + "".join(f"{c:>10}" for c in classes) + f"{'total':>10}")
    for split, counts in summary["splits"].items():
        print(f"{split:<8}" + "".join(f"{counts[c]:>10}" for c in classes) + f"{sum(counts.values()):>10}")
    for line in summary["unreadable"]:
        print(f"unreadable: {line}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    import json

    from gclenet.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, train_split=args.train_split, test_split=args.test_split,
                           classes=args.classes, options=options(args.option), progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for split, counts in report["counts"].items():
            print(f"{split}: {sum(counts.values())} images, " + ", ".join(f"{c} {n}" for c, n in counts.items()))
        print(f"imbalance (largest/smallest training class): {report['imbalance_ratio']:.1f}"
              if report["imbalance_ratio"] else "imbalance: n/a")
        for line in report["unreadable"]:
            print(f"unreadable: {line}")
        print(f"{len(report['duplicates_across_splits'])} image(s) in both splits; "
              f"{report['duplicates_within_split']} duplicate group(s) within a split; "
              f"{len(report['subjects_in_both_splits'])} subject(s) in both splits")
        for files in report["duplicates_across_splits"][:20]:
            print("  same image: " + "  ==  ".join(files))
        if report["subjects_in_both_splits"]:
            print("  subjects on both sides: " + ", ".join(report["subjects_in_both_splits"][:20]))
    if report["leak"]:
        print("gclenet data check: train and test leak into each other (see above)", file=sys.stderr)
        return 1
    return 0
