from pathlib import Path

import pytest

from gclenet.models import list_models
from gclenet.training.config import apply_overrides, load_config

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_parse(path):
    config = load_config(path)
    assert config.model.name in list_models()
    assert config.trainer.max_epochs > 0


def test_paper_recipe_values():
    config = load_config(next(p for p in CONFIGS if p.name == "pretrain_mix.yaml"))
    optim = config.optim
    assert (optim.lr, optim.momentum, optim.weight_decay, optim.step_epochs, optim.gamma) == (0.05, 0.9, 5e-4, 20, 0.1)
    assert config.data.batch_size == 128 and config.trainer.max_epochs == 200


def test_overrides_and_unknown_keys():
    config = load_config(None, ["optim.lr=0.2", "data.classes=[happy, sad]", "trainer.devices=2"])
    assert config.optim.lr == 0.2 and config.data.classes == ["happy", "sad"] and config.trainer.devices == 2
    with pytest.raises(ValueError, match="optim.lrr"):
        load_config(None, ["optim.lrr=0.1"])
    with pytest.raises(ValueError, match="key.sub=value"):
        apply_overrides({}, ["optim.lr"])


def test_values_take_the_fields_type_and_a_wrong_type_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-3\n  momentum: 1\n")  # YAML reads 1e-3 as text
    config = load_config(path, ["run_name=0001", "trainer.max_epochs=3", "data.max_train_images=500",
                                "trainer.limit_train_batches=0.5", "output_dir=2024-05-01"])
    assert config.optim.lr == 0.001 and isinstance(config.optim.momentum, float)
    assert config.run_name == "0001" and config.output_dir == "2024-05-01"
    assert config.trainer.max_epochs == 3 and config.trainer.limit_train_batches == 0.5
    assert load_config(None, ["data.classes=null"]).data.classes is None
    with pytest.raises(ValueError, match="optim.lr: expected a number, got 'fast'"):
        load_config(None, ["optim.lr=fast"])
    with pytest.raises(ValueError, match="trainer.max_epochs: expected an integer"):
        load_config(None, ["trainer.max_epochs=2.5"])
    with pytest.raises(ValueError, match="optim.nesterov: expected true/false"):
        load_config(None, ["optim.nesterov=1"])


def test_fields_with_fixed_choices_are_checked_as_the_config_is_read(tmp_path):
    import typing

    from gclenet.data.datasets.ferplus import LABEL_MODES
    from gclenet.training.config import LabelMode
    from gclenet.training.datamodule import LABEL_TARGETS

    assert typing.get_args(LabelMode) == LABEL_MODES == tuple(LABEL_TARGETS)  # one vocabulary
    assert load_config(None, ["data.label_mode=crossentropy"]).data.label_mode == "crossentropy"
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  label_mode: soft\n")
    with pytest.raises(ValueError, match="data.label_mode: 'soft' is not a valid choice; valid: majority, probability, "
                                         "crossentropy, multi_target"):
        load_config(path)
