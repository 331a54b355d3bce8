"""Frozen worker models: the posterior a stored model gives is the fitted model's, exactly."""
import numpy as np
import pytest

from consensus import AGGREGATORS, update_posterior
from consensus.frozen import FrozenModel

RNG = np.random.default_rng(7)
X = np.column_stack([np.repeat(np.arange(60), 3), RNG.integers(0, 8, 180), RNG.integers(0, 3, 180)])


@pytest.mark.parametrize("method", sorted(AGGREGATORS))
def test_frozen_posterior_matches_the_fitted_models_prediction(method):
    model = AGGREGATORS[method]().fit(X, n_classes=3)
    frozen = FrozenModel.from_bytes(FrozenModel.from_fitted(model).to_bytes())
    new = np.array([[0, 1, 2], [0, 3, 2], [0, 5, 0]])
    expected = model.predict_proba(new)[0]
    got = frozen.posterior(new[:, 1], new[:, 2])
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert abs(got.sum() - 1) < 1e-12


@pytest.mark.parametrize("method", ["dawid_skene", "auto", "glad", "mace", "ibcc", "one_coin_dawid_skene"])
def test_confusion_posterior_equals_folding_answers_one_by_one(method):
    model = AGGREGATORS[method]().fit(X, n_classes=3)
    frozen = FrozenModel.from_fitted(model)
    p = None
    for worker, label in [(1, 2), (3, 0), (99, 1)]:  # 99: a worker the fit never saw
        p = update_posterior(model, p, worker, label)
    assert np.allclose(frozen.posterior([1, 3, -1], [2, 0, 1]), p, rtol=1e-12)


def test_round_trip_is_bit_exact_and_allclose_compares():
    frozen = FrozenModel.from_fitted(AGGREGATORS["dawid_skene"]().fit(X, n_classes=3))
    again = FrozenModel.from_bytes(frozen.to_bytes())
    assert again.errors.tobytes() == frozen.errors.tobytes() and again.allclose(frozen)
    other = FrozenModel.from_fitted(AGGREGATORS["dawid_skene"]().fit(X[:90], n_classes=3))
    assert not frozen.allclose(other)


def test_votes_and_bad_input():
    votes = FrozenModel.votes(3)
    assert votes.posterior([4, 5, 6], [1, 1, 2]).tolist() == [0.0, 2 / 3, 1 / 3]
    assert votes.posterior([], []).tolist() == [1 / 3] * 3
    with pytest.raises(ValueError):
        votes.posterior([1], [3])
    with pytest.raises(ValueError):
        votes.posterior([1, 2], [0])
