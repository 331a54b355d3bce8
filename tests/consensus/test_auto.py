"""``auto``'s prior-strength selection by approximate leave-one-out answer likelihood."""

import numpy as np
import pytest

from consensus import Auto, DawidSkene, OneCoinDawidSkene
from consensus.auto import loo_loglik


def _one_coin_crowd(seed, n_tasks=700, n_workers=44, k=10, per_task=4):
    """Workers with one accuracy each (U(0.4, 0.9)), errors uniform over the other classes."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.4, 0.9, n_workers)
    weights = 1.0 / (rng.permutation(n_workers) + 1.0) ** 0.5
    truth = rng.integers(k, size=n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, size=per_task, replace=False, p=weights / weights.sum()):
            wrong = (truth[t] + 1 + rng.integers(k - 1)) % k
            rows.append((t, w, truth[t] if rng.random() < acc[w] else wrong))
    return np.array(rows), truth


def _full_confusion_crowd(seed, n_tasks=4000, n_workers=70, k=4, per_task=5):
    """Class-specific confusions (Dirichlet rows leaning to the diagonal), some spammers."""
    rng = np.random.default_rng(seed)
    conf = rng.dirichlet(np.full(k, 0.5), size=(n_workers, k))
    conf += 4.0 * np.eye(k)[None] * rng.uniform(0.3, 1.5, (n_workers, 1, 1))
    conf /= conf.sum(axis=-1, keepdims=True)
    conf[: n_workers // 10] = 1.0 / k  # spammers
    weights = 1.0 / (rng.permutation(n_workers) + 1.0)
    truth = rng.integers(k, size=n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, size=per_task, replace=False, p=weights / weights.sum()):
            rows.append((t, w, rng.choice(k, p=conf[w, truth[t]])))
    return np.array(rows), truth


def _acc(model, X, truth, k):
    return float(np.mean(model.fit_predict(X, n_classes=k) == truth))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_one_coin_crowd_gets_a_stronger_prior(seed):
    X, truth = _one_coin_crowd(seed)
    model = Auto().fit(X, n_classes=10)
    auto = float(np.mean(model.labels_ == truth))
    assert model.strength_ > 2.0
    assert auto >= _acc(Auto(strength=2.0), X, truth, 10)
    # known limitation: the hierarchical model gains only part of the gap to the true
    # (one-coin) model here -- 1.6 to 3 points below one-coin DS on these seeds
    assert auto >= _acc(OneCoinDawidSkene(), X, truth, 10) - 0.035


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_confusion_crowd_still_matches_dawid_skene(seed):
    X, truth = _full_confusion_crowd(seed)
    auto = _acc(Auto(), X, truth, 4)
    assert auto >= _acc(DawidSkene(), X, truth, 4) - 0.005
    assert auto >= _acc(Auto(strength=2.0), X, truth, 4) - 0.005


def test_fixed_strength_skips_the_search():
    X, _ = _one_coin_crowd(0, n_tasks=100)
    model = Auto(strength=5.0).fit(X, n_classes=10)
    assert model.strength_ == 5.0 and not hasattr(model, "strength_scores_")
    searched = Auto().fit(X, n_classes=10)
    assert searched.strength_ in searched.strength_scores_
    again = Auto().fit(X, n_classes=10)
    assert again.strength_ == searched.strength_
    np.testing.assert_array_equal(again.probas_, searched.probas_)


def test_loo_loglik_is_a_log_probability_per_answer():
    from consensus._base import AnswerIndex

    X, _ = _one_coin_crowd(0, n_tasks=50)
    m = Auto().fit(X, n_classes=10)
    index = AnswerIndex(X, m.n_tasks_, m.n_workers_, 10)
    counts = index.confusion_counts(m.probas_)
    alpha = counts + m.strength_ * 0.1 + 1.0
    ll = loo_loglik(index, X, None, m.probas_, alpha, np.log(m.priors_))
    assert ll.shape == (X.shape[0],) and np.all(ll <= 0.0) and np.all(np.isfinite(ll))
