"""``gclenet ablate``: every variant of one of the paper's ablation tables, same config and seeds.

Runs live under ``<output_dir>/<run_name>_ablation/<variant>_seed<k>/``; a finished run
leaves ``result.json`` (and a copy under ``<out>/runs/``, which outlives the run folder) and is
never re-run, an interrupted one is resumed, and runs are
shared between tables (Table 5's ``gclenet`` is Table 6 (d) and Table 7 (a)) as long as
the config is the same (checked by hash).
"""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from gclenet.fileio import atomic_write_bytes
from gclenet.hardware import describe_cpu
from gclenet.models import ABLATION_TABLES
from gclenet.models.complexity import measure_complexity
from gclenet.training.config import TrainConfig, config_from_dict

__all__ = ["run_ablation", "ablation_markdown", "plot_ablation", "mcnemar_exact", "TABLE_TITLES", "FULL_MODEL"]

FULL_MODEL = "gclenet"  # every table's full model (Table 5's both, 6 (d), 7 (a)): the variants are compared with it

TABLE_TITLES = {
    5: "Table 5: the modules (baseline, +LFA, +MGC, both)",
    6: "Table 6: inside LFA (no split 3x3 / split 3x3 / split asymmetric / split ACB)",
    7: "Table 7: inside MGC (full / single-scale / no ACMix / no MGC)",
}


def _config_hash(config: TrainConfig) -> str:
    values = config.to_dict()
    for key in ("seed", "run_name", "output_dir"):
        values.pop(key)
    values["model"].pop("name")
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """The exact (binomial) McNemar p of two models scored on the same images: how likely so
    lopsided a split of the images only one of them got right is, if neither is better."""
    from scipy.stats import binomtest

    discordant = only_first + only_second
    return float(binomtest(only_first, discordant, 0.5).pvalue) if discordant else 1.0


def _paired(variant_run: dict[str, Any], full_run: dict[str, Any]) -> dict[str, Any] | None:
    """The variant against the full model of the same seed, over the same images."""
    mine, theirs = variant_run.get("correct"), full_run.get("correct")
    if not mine or not theirs or len(mine) != len(theirs):  # a run from before the answers were kept
        return None
    only_variant = sum(a == "1" and b == "0" for a, b in zip(mine, theirs))
    only_full = sum(a == "0" and b == "1" for a, b in zip(mine, theirs))
    return {"seed": variant_run["seed"], "only_variant": only_variant, "only_full": only_full,
            "p": mcnemar_exact(only_variant, only_full)}


def _finished_run_hash(run_dir: Path | None, result: dict[str, Any]) -> str:
    # Re-read the run's saved config with today's defaults: a setting added to gclenet after the
    # run (off by default) must not make a finished run look like another config.
    saved = run_dir / "config.yaml" if run_dir else None
    if saved and saved.is_file():
        return _config_hash(config_from_dict(yaml.safe_load(saved.read_text())))
    if "config" in result:  # a kept result: its run folder may be gone, its config travels with it
        return _config_hash(config_from_dict(result["config"]))
    return result["config_hash"]


def run_ablation(config: TrainConfig, table: int, *, seeds: list[int], budget_epochs: int | None = None,
                 out_dir: str | Path | None = None, second_seed_within: float | None = None,
                 second_seed: int | None = None, only: list[str] | None = None) -> dict[str, Any]:
    """Train and evaluate each (variant, seed) of ``table``; write ``table<N>.md`` and ``.json``.

    Each finished run's result is also kept in ``<out>/runs/`` (small JSON): committed beside the
    tables, it outlives the run folders (checkpoints) and is never trained again. With
    ``second_seed_within`` (points), only ``seeds``' first seed is run for every variant, then
    ``second_seed`` (default: one past the last seed) for the full model and for each variant
    whose accuracy is within that many points of it: the pairs that need a second look.
    ``only`` restricts the table to some variants (a pilot of the full model, one at a time).
    """
    if table not in ABLATION_TABLES:
        raise ValueError(f"table must be one of {sorted(ABLATION_TABLES)}, got {table}")
    base = copy.deepcopy(config)
    if budget_epochs:
        base.trainer.max_epochs = budget_epochs
    root = Path(base.output_dir) / f"{base.run_name}_ablation"
    out = Path(out_dir) if out_dir else root
    variants = list(ABLATION_TABLES[table])
    if only:
        unknown = sorted(set(only) - set(variants))
        if unknown:
            raise ValueError(f"not in Table {table}: {', '.join(unknown)}; its variants: {', '.join(variants)}")
        variants = [v for v in variants if v in only]
    # The full model first: it is every variant's reference (and a budget's pilot).
    variants.sort(key=lambda v: v != FULL_MODEL)
    first_seeds = seeds[:1] if second_seed_within is not None else seeds
    runs = [_run_variant(base, variant, seed, root, out / "runs") for variant in variants for seed in first_seeds]
    full = next((r for r in runs if r["variant"] == FULL_MODEL), None)
    if second_seed_within is not None and full is not None:
        extra = second_seed if second_seed is not None else max(seeds) + 1
        close = [r["variant"] for r in runs if r["variant"] != FULL_MODEL
                 and abs(r["accuracy"] - full["accuracy"]) * 100 < second_seed_within]
        if close and extra not in first_seeds:
            runs += [_run_variant(base, variant, extra, root, out / "runs") for variant in [FULL_MODEL, *close]]
    runs += _other_kept_seeds(base, variants, out / "runs", {(r["variant"], r["seed"]) for r in runs})
    summary = _summarise(runs, table, base)
    if second_seed_within is not None:
        summary["second_seed_within_points"] = second_seed_within
    atomic_write_bytes(out / f"table{table}.json", lambda f: f.write(json.dumps(summary, indent=2).encode()))
    atomic_write_bytes(out / f"table{table}.md", lambda f: f.write(ablation_markdown(summary).encode()))
    plot_ablation(summary, out / f"table{table}.png")
    return summary


def _other_kept_seeds(base: TrainConfig, variants: list[str], kept: Path, have: set[tuple[str, int]]
                      ) -> list[dict[str, Any]]:
    """Kept results of ``variants`` under ``base``'s config for seeds this call did not ask for
    (e.g. the full model's second seed, which another table's rule trained): a run shared
    between tables shows the same seeds in each."""
    digest, found = _config_hash(base), []
    for variant in variants:
        for path in sorted(kept.glob(f"{variant}_seed*.json")):
            seed = path.stem.removeprefix(f"{variant}_seed")
            if not seed.isdigit() or (variant, int(seed)) in have:
                continue
            result = json.loads(path.read_text())
            if result.get("variant") == variant and _finished_run_hash(None, result) == digest:
                found.append(result)
    return found


def _run_variant(base: TrainConfig, variant: str, seed: int, root: Path, kept: Path) -> dict[str, Any]:
    """One (variant, seed): its result if it finished (here or in ``kept``), else trained (or
    resumed) and evaluated. A result is reused only for the same config (by hash)."""
    from gclenet.training.evaluate import classification_report, predict_checkpoint
    from gclenet.training.plots import summarize_run
    from gclenet.training.train import train

    digest = _config_hash(base)
    cfg = copy.deepcopy(base)
    cfg.model.name, cfg.seed = variant, seed
    cfg.output_dir, cfg.run_name = str(root), f"{variant}_seed{seed}"
    result_file, kept_file = cfg.run_dir / "result.json", kept / f"{cfg.run_name}.json"
    for found in (result_file, kept_file):
        if found.is_file():
            result = json.loads(found.read_text())
            if _finished_run_hash(cfg.run_dir if found == result_file else None, result) != digest:
                raise ValueError(f"{found} was trained with another config; pick another run_name or --out")
            if not kept_file.is_file():
                atomic_write_bytes(kept_file, lambda f, r=result: f.write(json.dumps(r, indent=2).encode()))
            return result
    resume = (cfg.run_dir / "checkpoints" / "last.ckpt").is_file()
    train(cfg, resume=resume)
    # The weights after the whole budget, not the epoch that scored best on the split
    # we report: picking on it would flatter every variant by its own noise.
    final = cfg.run_dir / "checkpoints" / "last.ckpt"
    probs, labels, classes, _ = predict_checkpoint(final, cfg.data.dataset, cfg.data.root,
                                                   split=cfg.data.val_split, options=cfg.data.options,
                                                   progress=False)
    report = classification_report(probs, labels, classes)
    correct = "".join("1" if ok else "0" for ok in (probs.argmax(1) == labels).tolist())
    speed = summarize_run(cfg.run_dir / "logs" / "metrics.csv")["median_train_images_per_s"]
    result = {"variant": variant, "seed": seed, "config_hash": digest, "checkpoint": str(final),
              "epochs": cfg.trainer.max_epochs, "accuracy": report["accuracy"],
              "mean_class_accuracy": report["mean_class_accuracy"], "macro_f1": report["macro_f1"],
              "train_images_per_s": speed, "machine": describe_cpu(), "config": cfg.to_dict(),
              "correct": correct}  # per image, in split order: the paired test needs them
    for path in (result_file, kept_file):
        atomic_write_bytes(path, lambda f, r=result: f.write(json.dumps(r, indent=2).encode()))
    return result


def _summarise(runs: list[dict[str, Any]], table: int, config: TrainConfig) -> dict[str, Any]:
    rows = []
    for variant in ABLATION_TABLES[table]:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:  # left out with ``only``
            continue
        cost = measure_complexity(variant, input_size=config.data.input_size,
                                  num_classes=len(config.data.classes or []) or 7)
        row: dict[str, Any] = {"variant": variant, "seeds": [r["seed"] for r in mine],
                               "params": cost.params, "params_deploy": cost.params_deploy,
                               "macs_deploy": cost.macs_deploy}
        speeds = [r["train_images_per_s"] for r in mine if r.get("train_images_per_s")]
        row["train_images_per_s"] = statistics.median(speeds) if speeds else None
        row["machines"] = sorted({r.get("machine") or "not recorded" for r in mine})
        row["machine_of_seed"] = {str(r["seed"]): r.get("machine") or "not recorded" for r in mine}
        for key in ("accuracy", "mean_class_accuracy", "macro_f1"):
            values = [r[key] for r in mine]
            row[key] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "runs": values}
        if variant != FULL_MODEL:
            full = {r["seed"]: r for r in runs if r["variant"] == FULL_MODEL}
            pairs = [_paired(r, full[r["seed"]]) for r in mine if r["seed"] in full]
            row["mcnemar_vs_full"] = [pair for pair in pairs if pair]
        rows.append(row)
    return {"table": table, "title": TABLE_TITLES[table], "dataset": config.data.dataset,
            "val_split": config.data.val_split, "epochs": config.trainer.max_epochs,
            "input_size": config.data.input_size, "config": yaml.safe_dump(config.to_dict(), sort_keys=False),
            "rows": rows}


def ablation_markdown(summary: dict[str, Any]) -> str:
    lines = [f"### {summary['title']}", "",
             f"{summary['dataset']}, final weights after {summary['epochs']} epochs evaluated on "
             f"`{summary['val_split']}`, {summary['input_size']}x{summary['input_size']} input; "
             f"mean +- std over seeds; McNemar p: exact, against `{FULL_MODEL}` of the same seed on the same "
             "images (only this variant right / only the full model right)." + _seed_rule(summary), "",
             "| variant | what it is | accuracy | mean class acc. | macro F1 | seeds | McNemar p vs full (per seed) "
             "| params (deploy) | MACs (deploy) | training images/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        cells = [_mean_std(row[k]) for k in ("accuracy", "mean_class_accuracy", "macro_f1")]
        pairs = row.get("mcnemar_vs_full")
        paired = ("; ".join(f"seed {p['seed']}: {p['p']:.3g} ({p['only_variant']}/{p['only_full']})" for p in pairs)
                  if pairs else "(the full model)" if row["variant"] == FULL_MODEL else "-")
        lines.append(f"| {row['variant']} | {variant_description(row['variant'])} | " + " | ".join(cells)
                     + f" | {len(row['seeds'])} | {paired} | {row['params_deploy'] / 1e6:.3f} M | "
                     f"{row['macs_deploy'] / 1e6:.0f} M | {_speed(row.get('train_images_per_s'))} |")
    return "\n".join(lines) + "\n" + _machines_note(summary["rows"])


def _machines_note(rows: list[dict[str, Any]]) -> str:
    """Which CPU trained which variant: images/s compare only within one machine."""
    by_machine: dict[str, list[str]] = {}
    for row in rows:
        machines = row.get("machines", [])
        if len(machines) > 1 and row.get("machine_of_seed"):  # its seeds ran on different CPUs: say which
            for seed, machine in row["machine_of_seed"].items():
                by_machine.setdefault(machine, []).append(f"{row['variant']} (seed {seed})")
            continue
        for machine in machines:
            by_machine.setdefault(machine, []).append(row["variant"])
    if not by_machine:
        return ""
    parts = [f"{', '.join(variants)} on {machine}" for machine, variants in by_machine.items()]
    return ("\nTrained " + "; ".join(parts) + "."
            + (" Training images/s compare only between runs of one machine.\n" if len(by_machine) > 1 else "\n"))


def _mean_std(metric: dict[str, Any]) -> str:
    """The seed mean, +- the standard deviation and each seed's value where there is more than one."""
    if len(metric["runs"]) < 2:
        return f"{metric['mean']:.2%}"
    return f"{metric['mean']:.2%} +- {metric['std']:.2%} (" + ", ".join(f"{v:.2%}" for v in metric["runs"]) + ")"


def variant_description(variant: str) -> str:
    """The first line of the variant's builder docstring (which row of the paper it is)."""
    from gclenet.models import get_model_builder

    lines = (get_model_builder(variant).__doc__ or "").strip().splitlines()
    return lines[0].rstrip(".") if lines else ""


def _seed_rule(summary: dict[str, Any]) -> str:
    within = summary.get("second_seed_within_points")
    return (f" One seed per variant; a second for the full model and for each variant within {within:g} "
            f"point{'' if within == 1 else 's'} of it." if within is not None else "")


def _speed(images_per_s: float | None) -> str:
    return f"{images_per_s:.0f}" if images_per_s else "-"


METRIC_LABELS = {"accuracy": "accuracy", "mean_class_accuracy": "mean class accuracy", "macro_f1": "macro F1"}


def _tick_label(variant: str, width: int = 14) -> str:
    """A long variant name on two lines, broken at the underscore nearest its middle, so
    that four names side by side do not run into each other."""
    cuts = [i for i, ch in enumerate(variant) if ch == "_"]
    if len(variant) <= width or not cuts:
        return variant
    cut = min(cuts, key=lambda i: abs(i - len(variant) / 2))
    return variant[:cut + 1] + "\n" + variant[cut + 1:]


def plot_ablation(summary: dict[str, Any], path: str | Path) -> Path:
    """Bars of the seed mean per variant and metric, with each seed's run as a dot: the
    spread is as visible as the differences it may explain."""
    from gclenet.plotting import pyplot, save_figure

    plt = pyplot()

    rows = summary["rows"]
    width = 0.8 / len(METRIC_LABELS)
    fig, ax = plt.subplots(figsize=(1.8 + 1.9 * len(rows), 3.8))
    for m, (key, label) in enumerate(METRIC_LABELS.items()):
        xs = [i + (m - (len(METRIC_LABELS) - 1) / 2) * width for i in range(len(rows))]
        means = [row[key]["mean"] for row in rows]
        ax.bar(xs, means, width, color=f"C{m}", alpha=0.75, label=label)
        for x, row in zip(xs, rows):
            ax.plot([x] * len(row[key]["runs"]), row[key]["runs"], "k.", markersize=5)
            ax.annotate(f"{row[key]['mean']:.1%}", (x, row[key]["mean"]), textcoords="offset points",
                        xytext=(0, 4), ha="center", fontsize=7)
    ax.set_xticks(range(len(rows)), [_tick_label(row["variant"]) for row in rows], fontsize=8)
    ax.set(ylabel="on " + str(summary["val_split"]), ylim=(0, min(1.0, 1.15 * max(
        max(row[k]["runs"]) for row in rows for k in METRIC_LABELS))))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{summary['title']}\n{summary['dataset']}, {summary['epochs']} epochs, "
                 f"{summary['input_size']} px, dots: one seed each", fontsize=9)
    return save_figure(fig, path)
