import numpy as np
import pytest

from gclenet.models.calibration import (adjust_probabilities, expected_calibration_error, fit_temperature,
                                           reliability_bins, training_prior)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def overconfident_model(true_temperature, n=4000, classes=8, seed=0):
    """A model whose logits are ``true_temperature`` times too large: its softmax(z) is
    overconfident, softmax(z / true_temperature) are the real probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, classes))
    real = softmax(logits / true_temperature)
    labels = np.array([rng.choice(classes, p=p) for p in real])
    return softmax(logits), labels


def test_nothing_to_adjust_is_the_same_array():
    probs = softmax(np.random.default_rng(1).normal(size=(5, 8)))
    assert adjust_probabilities(probs) is probs


def test_temperature_flattens_and_keeps_the_top_class():
    probs = softmax(np.random.default_rng(2).normal(0, 2, (50, 8)))
    hot, cold = adjust_probabilities(probs, temperature=2.0), adjust_probabilities(probs, temperature=0.5)
    assert (hot.argmax(1) == probs.argmax(1)).all() and (cold.argmax(1) == probs.argmax(1)).all()
    assert (hot.max(1) < probs.max(1)).all() and (cold.max(1) > probs.max(1)).all()
    np.testing.assert_allclose(hot.sum(1), 1, atol=1e-6)


def test_full_balance_divides_by_the_prior():
    probs = softmax(np.random.default_rng(3).normal(size=(20, 4)))
    prior = np.array([0.7, 0.2, 0.08, 0.02])
    expected = probs / prior
    np.testing.assert_allclose(adjust_probabilities(probs, prior=prior, balance=1.0),
                               expected / expected.sum(1, keepdims=True), rtol=1e-6)
    rare = adjust_probabilities(probs, prior=prior, balance=0.5)
    assert (rare[:, 3] > probs[:, 3]).all() and (rare[:, 0] < probs[:, 0]).all()


@pytest.mark.parametrize("kwargs, message", [({"temperature": 0}, "positive"), ({"balance": -1, "prior": [1]}, "0"),
                                             ({"balance": 0.5}, "gclenet calibrate")])
def test_bad_settings_say_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adjust_probabilities(np.full((1, 2), 0.5), **kwargs)


@pytest.mark.parametrize("true_temperature", [0.6, 1.0, 2.5])
def test_fit_temperature_recovers_the_miscalibration(true_temperature):
    probs, labels = overconfident_model(true_temperature)
    fitted = fit_temperature(probs, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.12)
    before = expected_calibration_error(probs, labels)
    after = expected_calibration_error(adjust_probabilities(probs, temperature=fitted), labels)
    assert after < 0.03 and (true_temperature == 1.0 or after < before)


def test_reliability_bins_count_every_face():
    probs, labels = overconfident_model(2.0, n=500)
    bins = reliability_bins(probs, labels, bins=10)
    assert sum(b["faces"] for b in bins) == 500
    assert all(b["low"] <= b["confidence"] <= b["high"] for b in bins)


def test_training_prior_of_votes_and_labels():
    assert training_prior([[1, 0], [0.5, 0.5], [1, 0], [0.5, 0.5]]) == (0.75, 0.25)
    with pytest.raises(ValueError):
        fit_temperature(np.full((2, 2), 0.5), [0])
