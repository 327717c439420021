import pytest

from gclenet.training.module import lr_factor


def test_step_schedule_divides_by_ten_every_20_epochs():
    f = lambda step: lr_factor(step, total_steps=100 * 10, steps_per_epoch=10, schedule="step",  # noqa: E731
                               warmup_epochs=0, step_epochs=20, gamma=0.1)
    assert f(0) == 1.0 and f(199) == 1.0
    assert f(200) == pytest.approx(0.1) and f(399) == pytest.approx(0.1) and f(400) == pytest.approx(0.01)


def test_cosine_with_warmup():
    f = lambda step: lr_factor(step, total_steps=1000, steps_per_epoch=100, schedule="cosine",  # noqa: E731
                               warmup_epochs=1, step_epochs=0, gamma=0)
    assert f(0) == pytest.approx(0.01) and f(99) == pytest.approx(1.0)
    assert f(550) == pytest.approx(0.5) and f(1000) == pytest.approx(0.0)
    assert all(f(s) >= f(s + 1) for s in range(100, 999))


def test_unknown_schedule():
    with pytest.raises(ValueError, match="cosine"):
        lr_factor(0, total_steps=1, steps_per_epoch=1, schedule="poly", warmup_epochs=0, step_epochs=1, gamma=1)


def test_a_schedule_that_cannot_work_is_refused_before_training():
    from gclenet.training.config import load_config
    from gclenet.training.module import FERClassifier

    config = load_config(None, ["model.name=resnet34", "optim.step_epochs=0"])
    with pytest.raises(ValueError, match="step_epochs must be 1 or more"):
        FERClassifier(config, ["a", "b"])
    with pytest.raises(ValueError, match="optim.schedule: 'linear' is not a valid choice; valid: step, cosine, constant"):
        load_config(None, ["model.name=resnet34", "optim.schedule=linear"])  # refused as the config is read
