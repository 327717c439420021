import json
import shutil

import pytest

from gclenet.cli.main import main
from gclenet.hardware import describe_cpu
from tests.training.test_train_cli import make_run


@pytest.mark.slow
def test_ablate_table5_end_to_end_and_resumable(tmp_path, capsys):
    config = make_run(tmp_path, max_epochs=1)
    args = ["ablate", "--config", str(config), "--table", "5", "--seeds", "0", "--budget-epochs", "1",
            "trainer.limit_train_batches=2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for variant in ("resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"):
        assert f"| {variant} |" in out
    root = tmp_path / "runs" / "tiny_ablation"
    summary = json.loads((root / "table5.json").read_text())
    assert [r["variant"] for r in summary["rows"]] == ["resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"]
    assert summary["rows"][0]["params_deploy"] == 21_288_263 - 512 * 4 - 4  # ResNet-34 with a 3-class head
    results = sorted(root.glob("*/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    assert len(results) == 4
    assert main(args) == 0  # everything finished: nothing is trained again
    assert [p.stat().st_mtime_ns for p in results] == stamps
    # A run saved before a setting existed (here SWA, off by default) is still the same config...
    saved = root / "resnet34_seed0" / "config.yaml"
    saved.write_text(saved.read_text().replace("  swa_start_epoch: null\n", ""))
    assert "swa_start_epoch" not in saved.read_text()
    result_file = saved.parent / "result.json"
    old_result = json.loads(result_file.read_text())
    result_file.write_text(json.dumps({**old_result, "config_hash": "hashed-without-swa"}))
    stamps = [p.stat().st_mtime_ns for p in results]
    assert main(args) == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps
    # ...but a changed setting is refused, not silently mixed into the table.
    assert main(args + ["optim.lr=0.123"]) != 0
    assert "trained with another config" in capsys.readouterr().err
    assert (root / "table5.md").read_text().startswith("### Table 5")
    assert (root / "table5.png").read_bytes()[:4] == b"\x89PNG"
    assert all(json.loads(p.read_text())["checkpoint"].endswith("last.ckpt") for p in results)  # no pick on val
    assert all(json.loads(p.read_text())["train_images_per_s"] > 0 for p in results)
    assert all(json.loads(p.read_text())["machine"] == describe_cpu() for p in results)  # which CPU trained it
    # The kept results outlive the run folders (a lost runs folder): nothing is trained again.
    kept = sorted((root / "runs").glob("*.json"))
    assert [p.stem for p in kept] == sorted(f"{v}_seed0" for v in ("resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"))
    for result in results:
        shutil.rmtree(result.parent)
    assert main(args) == 0
    assert not any(root.glob("*/result.json")) and not (root / "gclenet_seed0").exists()
    assert "training images/s" in (root / "table5.md").read_text()


@pytest.mark.slow
def test_robustness_end_to_end(tmp_path, capsys):
    config = make_run(tmp_path, max_epochs=1)
    assert main(["train", "--config", str(config)]) == 0
    ckpt = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    out = tmp_path / "robust"
    code = main(["robustness", "--checkpoint", str(ckpt), "--checkpoint", str(ckpt), "--name", "a", "--name", "b",
                 "--dataset", "folder", "--root", str(tmp_path / "data"), "--families", "eyes", "rotation",
                 "--out", str(out), "--json"])
    assert code == 0
    report = json.loads((out / "robustness.json").read_text())
    assert list(report["models"]) == ["a", "b"]
    a, b = report["models"]["a"], report["models"]["b"]
    assert a == {**b, "checkpoint": a["checkpoint"]}  # same model, same corrupted images: same numbers
    assert set(a["corrupted"]) == {"eyes@1", "rotation@15", "rotation@30", "rotation@45"}
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG"


def test_robustness_table_gives_change_from_each_models_clean_score():
    from gclenet.training.robustness import robustness_markdown

    report = {"models": {"weak": {"clean": 0.40, "corrupted": {"eyes@1": 0.30}},
                         "strong": {"clean": 0.64, "corrupted": {"eyes@1": 0.60}}}}
    table = robustness_markdown(report)
    assert "| eyes@1 | 30.00% (-10.0) | 60.00% (-4.0) |" in table
    assert "| clean | 40.00% | 64.00% |" in table


def test_robustness_refuses_names_that_do_not_match_the_checkpoints(random_weights, tmp_path):
    import pytest

    from gclenet.training.robustness import evaluate_robustness

    with pytest.raises(ValueError, match="1 name\\(s\\) for 2 checkpoint"):
        evaluate_robustness([random_weights, random_weights], "folder", tmp_path, names=["only one"])


def test_variants_are_paired_with_the_full_model_of_their_seed():
    from gclenet.training.ablation import _paired, ablation_markdown, mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 12) < 0.001 < mcnemar_exact(3, 9) < 1.0  # 12 to 0 is no accident; 9 to 3 may be
    full = {"seed": 1, "correct": "111100"}
    pair = _paired({"seed": 1, "correct": "011111"}, full)
    assert (pair["only_variant"], pair["only_full"], pair["seed"]) == (2, 1, 1)
    assert _paired({"seed": 1}, full) is None  # a run from before the answers were kept
    metrics = {k: {"mean": 0.7, "std": 0.01, "runs": [0.7]} for k in ("accuracy", "mean_class_accuracy", "macro_f1")}
    rows = [{"variant": "resnet34", "seeds": [1], "params_deploy": 2e7, "macs_deploy": 6e8, **metrics,
             "mcnemar_vs_full": [pair]},
            {"variant": "gclenet", "seeds": [1], "params_deploy": 2e7, "macs_deploy": 6e8, **metrics,
             "machines": ["CPU B"]}]
    text = ablation_markdown({"title": "T", "dataset": "ferplus", "epochs": 4, "val_split": "val", "input_size": 48,
                              "rows": rows})
    assert f"seed 1: {pair['p']:.3g} (2/1)" in text and "(the full model)" in text
    assert "| resnet34 | Plain ResNet-34 (the baseline): X = F |" in text  # the paper's row, from its builder
    assert "Trained gclenet on CPU B." in text
    rows[0]["machines"] = ["CPU A"]
    text = ablation_markdown({"title": "T", "dataset": "ferplus", "epochs": 4, "val_split": "val", "input_size": 48,
                              "rows": rows})
    assert "resnet34 on CPU A; gclenet on CPU B. Training images/s compare only" in text
    assert "| 70.00% |" in text and "+- 0.00%" not in text  # one seed: no spread to show
    rows[0]["accuracy"] = {"mean": 0.7, "std": 0.02, "runs": [0.68, 0.72]}
    text = ablation_markdown({"title": "T", "dataset": "ferplus", "epochs": 4, "val_split": "val", "input_size": 48,
                              "rows": rows})
    assert "| 70.00% +- 2.00% (68.00%, 72.00%) |" in text
    rows[1].update(seeds=[0, 1], machines=["CPU A", "CPU B"], machine_of_seed={"0": "CPU B", "1": "CPU A"})
    text = ablation_markdown({"title": "T", "dataset": "ferplus", "epochs": 4, "val_split": "val", "input_size": 48,
                              "rows": rows})
    assert "resnet34, gclenet (seed 1) on CPU A; gclenet (seed 0) on CPU B." in text  # seeds on two CPUs


def test_a_second_seed_runs_only_where_a_variant_is_close_to_the_full_model(monkeypatch, tmp_path):
    from gclenet.training import ablation
    from gclenet.training.config import TrainConfig

    accuracy = {"resnet34": 0.700, "gclenet_lfa": 0.745, "gclenet_mgc": 0.758, "gclenet": 0.750}
    trained = []

    def fake_run(base, variant, seed, root, kept):
        trained.append((variant, seed))
        return {"variant": variant, "seed": seed, "accuracy": accuracy[variant] + seed / 1000,
                "mean_class_accuracy": 0.5, "macro_f1": 0.5, "correct": "", "train_images_per_s": 100.0}

    monkeypatch.setattr(ablation, "_run_variant", fake_run)
    monkeypatch.setattr(ablation, "plot_ablation", lambda summary, path: path)
    config = TrainConfig()
    config.output_dir = str(tmp_path)
    summary = ablation.run_ablation(config, 5, seeds=[3], second_seed_within=1.0, out_dir=tmp_path)
    # resnet34 is 5 points off (one seed is enough); the others are within 1 point: a second seed
    assert trained == [("gclenet", 3), ("resnet34", 3), ("gclenet_lfa", 3), ("gclenet_mgc", 3),
                       ("gclenet", 4), ("gclenet_lfa", 4), ("gclenet_mgc", 4)]  # the reference first
    assert {row["variant"]: row["seeds"] for row in summary["rows"]}["resnet34"] == [3]
    assert "within 1 point of it" in (tmp_path / "table5.md").read_text()
    trained.clear()  # a pilot: the full model alone
    summary = ablation.run_ablation(config, 5, seeds=[3], only=["gclenet"], out_dir=tmp_path)
    assert trained == [("gclenet", 3)] and [row["variant"] for row in summary["rows"]] == ["gclenet"]
    with pytest.raises(ValueError, match="not in Table 5: gclenet_ms"):
        ablation.run_ablation(config, 5, seeds=[3], only=["gclenet_ms"], out_dir=tmp_path)


def test_a_table_shows_every_kept_seed_of_its_variants_under_its_config(monkeypatch, tmp_path):
    """The full model's second seed, trained under Table 6's rule, is in Table 5 too; a kept
    result of another config is not."""
    from gclenet.training import ablation
    from gclenet.training.config import TrainConfig

    def fake_run(base, variant, seed, root, kept):
        return {"variant": variant, "seed": seed, "accuracy": 0.70, "mean_class_accuracy": 0.5, "macro_f1": 0.5,
                "correct": "", "train_images_per_s": 100.0}

    monkeypatch.setattr(ablation, "_run_variant", fake_run)
    monkeypatch.setattr(ablation, "plot_ablation", lambda summary, path: path)
    config = TrainConfig()
    config.output_dir = str(tmp_path)
    kept = tmp_path / "runs"
    kept.mkdir()
    other = TrainConfig()
    other.optim.lr = config.optim.lr * 2
    for name, cfg, accuracy in (("gclenet_seed1", config, 0.74), ("resnet34_seed1", other, 0.60)):
        (kept / f"{name}.json").write_text(json.dumps({
            "variant": name.removesuffix("_seed1"), "seed": 1, "accuracy": accuracy, "mean_class_accuracy": 0.5,
            "macro_f1": 0.5, "correct": "", "config": cfg.to_dict()}))
    summary = ablation.run_ablation(config, 5, seeds=[0], out_dir=tmp_path)
    seeds = {row["variant"]: row["seeds"] for row in summary["rows"]}
    assert seeds["gclenet"] == [0, 1] and seeds["resnet34"] == [0]
    assert {row["variant"]: row["accuracy"]["mean"] for row in summary["rows"]}["gclenet"] == pytest.approx(0.72)


def test_long_variant_names_are_plotted_on_two_lines():
    from gclenet.training.ablation import _tick_label

    assert _tick_label("gclenet") == "gclenet"
    assert _tick_label("gclenet_t6a_nosplit_conv3x3") == "gclenet_t6a_\nnosplit_conv3x3"
