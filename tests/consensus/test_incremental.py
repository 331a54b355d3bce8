import numpy as np
import pytest

from consensus import AGGREGATORS, ConsensusError, InvalidAnswers, update_posterior

CONFUSION = [n for n in sorted(AGGREGATORS) if n not in ("majority_vote", "wawa")]


def _crowd(seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(3, size=30)
    rows = [(t, w, truth[t] if rng.random() < 0.75 else rng.integers(3))
            for t in range(30) for w in rng.choice(6, size=4, replace=False)]
    return np.array(rows)


@pytest.mark.parametrize("name", CONFUSION)
def test_folding_answers_equals_a_full_e_step(name):
    X = _crowd()
    model = AGGREGATORS[name]().fit(X, n_classes=3)
    for task in (0, 7, 19):
        item = X[X[:, 0] == task]
        p = None
        for _, worker, label in item:
            p = update_posterior(model, p, worker, label)
        full = model.predict_proba(np.column_stack([np.zeros(len(item), int), item[:, 1:]]))[0]
        np.testing.assert_allclose(p, full, atol=1e-10)
        # the log form folds to the same thing
        lp = None
        for _, worker, label in item:
            lp = update_posterior(model, lp, worker, label, log=True)
        np.testing.assert_allclose(np.exp(lp), full, atol=1e-10)


def test_update_from_prior_and_unseen_worker():
    X = _crowd(1)
    model = AGGREGATORS["auto"]().fit(X, n_classes=3)
    p = update_posterior(model, None, 99, 2)  # never seen: pooled worker model
    assert p.shape == (3,) and np.isclose(p.sum(), 1.0) and p.argmax() == 2


def test_bad_calls():
    X = _crowd(2)
    with pytest.raises(ConsensusError, match="confusion"):
        update_posterior(AGGREGATORS["majority_vote"]().fit(X), None, 0, 0)
    model = AGGREGATORS["dawid_skene"]().fit(X)
    with pytest.raises(InvalidAnswers, match="outside"):
        update_posterior(model, None, 0, 3)
    with pytest.raises(InvalidAnswers, match="shape"):
        update_posterior(model, [0.5, 0.5], 0, 1)
    with pytest.raises(ConsensusError, match="not fitted"):
        update_posterior(AGGREGATORS["dawid_skene"](), None, 0, 1)
