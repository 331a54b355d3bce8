"""One contract suite over every registered aggregator (design.md section 4)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus import AGGREGATORS, ConsensusError, InvalidAnswers, NotFittedError

NAMES = sorted(AGGREGATORS)
CONFUSION = [n for n in NAMES if n not in ("majority_vote", "wawa")]
HYP = settings(max_examples=int(os.environ.get("CONSENSUS_HYPOTHESIS_EXAMPLES", 10)), derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make(name):
    return AGGREGATORS[name]()


def crowd(seed=0, n_tasks=40, n_workers=8, k=3, per_task=4, acc=0.8):
    """Small random crowd with a known truth (reliable-ish workers)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(k, size=n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, size=per_task, replace=False):
            lab = truth[t] if rng.random() < acc else rng.integers(k)
            rows.append((t, w, lab))
    return np.array(rows, dtype=np.int64), truth


@st.composite
def answers(draw, min_classes=1):
    """Random (task, worker, label) codes: every task answered, distinct pairs."""
    n_tasks = draw(st.integers(1, 7))
    n_workers = draw(st.integers(1, 5))
    k = draw(st.integers(min_classes, 4))
    rows = []
    for t in range(n_tasks):
        ws = draw(st.lists(st.integers(0, n_workers - 1), min_size=1, max_size=n_workers,
                           unique=True))
        for w in ws:
            rows.append((t, w, draw(st.integers(0, k - 1))))
    return np.array(rows, dtype=np.int64), k


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=answers())
def test_probabilities_are_distributions(name, data):
    X, k = data
    model = make(name).fit(X, n_classes=k)
    n_tasks = X[:, 0].max() + 1
    assert model.probas_.shape == (n_tasks, k)
    assert np.all(model.probas_ >= 0)
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0, atol=1e-9)
    assert model.labels_.shape == (n_tasks,)
    np.testing.assert_array_equal(model.labels_, model.probas_.argmax(axis=1))
    assert model.skills_.shape == (X[:, 1].max() + 1,)
    assert np.all((model.skills_ >= 0) & (model.skills_ <= 1))


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=answers(), seed=st.integers(0, 2**16))
def test_renaming_workers_and_tasks_changes_nothing(name, data, seed):
    X, k = data
    rng = np.random.default_rng(seed)
    n_tasks, n_workers = X[:, 0].max() + 1, X[:, 1].max() + 1
    task_perm, worker_perm = rng.permutation(n_tasks), rng.permutation(n_workers)
    X2 = np.column_stack([task_perm[X[:, 0]], worker_perm[X[:, 1]], X[:, 2]])
    X2 = X2[rng.permutation(len(X2))]  # answer order must not matter either
    p1 = make(name).fit_predict_proba(X, n_classes=k)
    p2 = make(name).fit_predict_proba(X2, n_classes=k)
    np.testing.assert_allclose(p2[task_perm], p1, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=answers())
def test_unanimous_answers_win(name, data):
    X, k = data
    truth = (np.arange(X[:, 0].max() + 1) * 7 + 3) % k
    X = X.copy()
    X[:, 2] = truth[X[:, 0]]
    np.testing.assert_array_equal(make(name).fit_predict(X, n_classes=k), truth)


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=answers())
def test_fit_twice_equals_fit_once(name, data):
    X, k = data
    model = make(name)
    first = model.fit_predict_proba(X, n_classes=k).copy()
    second = model.fit_predict_proba(X, n_classes=k)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(make(name).fit_predict_proba(X, n_classes=k), first)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 3), dtype=int), "no answers"),
        (np.zeros((4, 2), dtype=int), "shape"),
        (np.zeros((2, 3, 1), dtype=int), "shape"),
        (np.array([[0, 0, 1], [1, -1, 0]]), "negative worker"),
        (np.array([[0, 0, 1.0], [1, 1, np.nan]]), "NaN"),
        (np.array([[0, 0, 0.5]]), "whole"),
        (np.array([["a", "b", "c"]]), "integers"),
        ([[0, 0], [1]], "shape|array"),
    ],
)
def test_bad_answers_raise_value_error(name, bad, match):
    with pytest.raises(ValueError, match=match) as info:
        make(name).fit(bad)
    assert isinstance(info.value, InvalidAnswers) and isinstance(info.value, ConsensusError)


@pytest.mark.parametrize("name", NAMES)
def test_label_code_beyond_n_classes_raises(name):
    with pytest.raises(ValueError, match="n_classes=2"):
        make(name).fit(np.array([[0, 0, 2]]), n_classes=2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0, 0, 1, 1]), "task code 3 >= n_tasks=3"),
        (np.array([0, 5, -1]), "gold label code 5"),
        (np.array([0, -2, -1]), ">= 0, or -1"),
        (np.array([[0, 1, 1]]), "1-D"),
        (np.array([0.0, np.nan, 1.0]), "NaN"),
    ],
)
def test_bad_gold_raises(name, y, match):
    X, _ = crowd(n_tasks=3, k=2)
    with pytest.raises(ValueError, match=match):
        make(name).fit(X, y, n_classes=2)


@pytest.mark.parametrize("name", NAMES)
def test_single_worker_follows_that_worker(name):
    X = np.array([[0, 0, 2], [1, 0, 0], [2, 0, 1], [3, 0, 2]])
    np.testing.assert_array_equal(make(name).fit_predict(X, n_classes=3), [2, 0, 1, 2])


@pytest.mark.parametrize("name", NAMES)
def test_single_class(name):
    X = np.array([[0, 0, 0], [0, 1, 0], [1, 1, 0]])
    model = make(name).fit(X)
    assert model.probas_.shape == (2, 1)
    np.testing.assert_array_equal(model.probas_, 1.0)
    np.testing.assert_array_equal(model.labels_, 0)


@pytest.mark.parametrize("name", NAMES)
def test_exact_tie_goes_to_lowest_class_code(name):
    # two symmetric workers disagree on symmetric tasks: no method can prefer a class
    X = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1]])
    model = make(name).fit(X, n_classes=2)
    np.testing.assert_allclose(model.probas_, 0.5, atol=1e-9)
    np.testing.assert_array_equal(model.labels_, [0, 0])


@pytest.mark.parametrize("name", NAMES)
def test_class_nobody_chose_still_exists(name):
    X, _ = crowd(k=2)
    model = make(name).fit(X, n_classes=4)
    assert model.probas_.shape[1] == 4
    assert set(np.unique(model.labels_)) <= {0, 1}


@pytest.mark.parametrize("name", NAMES)
def test_task_without_answers_gets_the_prior(name):
    X, _ = crowd(n_tasks=10, k=3)
    X = X[X[:, 0] != 4]  # task 4 now has no answers but task 9 keeps n_tasks at 10
    model = make(name).fit(X, n_classes=3)
    np.testing.assert_allclose(model.probas_[4], model.priors_, atol=1e-9)
    np.testing.assert_allclose(model.priors_.sum(), 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_gold_clamps_posteriors_and_trains_workers(name):
    # worker 2 always answers the opposite of workers 0 and 1 ...
    rows = []
    for t in range(12):
        truth = t % 2
        rows += [(t, 0, truth), (t, 1, truth), (t, 2, 1 - truth)]
    # ... and task 12 is answered by worker 2 alone
    rows.append((12, 2, 1))
    X = np.array(rows)
    y = np.full(13, -1)
    y[:3] = [1, 1, 0]  # gold disagrees with the crowd on tasks 0 and 2
    model = make(name).fit(X, y, n_classes=2)
    np.testing.assert_array_equal(model.labels_[:3], [1, 1, 0])
    np.testing.assert_array_equal(model.probas_[:3], [[0, 1], [0, 1], [1, 0]])
    assert model.probas_[5, 1] > 0.5  # unknown tasks still aggregated


@pytest.mark.parametrize("name", CONFUSION)
def test_confusion_models_expose_row_stochastic_errors(name):
    X, _ = crowd(k=3)
    model = make(name).fit(X)
    assert model.errors_.shape == (8, 3, 3)
    np.testing.assert_allclose(model.errors_.sum(axis=2), 1.0, atol=1e-9)
    assert model.n_iter_ >= 1 and len(model.loss_history_) == model.n_iter_


@pytest.mark.parametrize("name", CONFUSION)
def test_adversarial_worker_is_learned(name):
    X, truth = crowd(seed=3, n_tasks=80, n_workers=6, k=2, per_task=5, acc=0.85)
    X = X.copy()
    flip = X[:, 1] == 0
    X[flip, 2] = 1 - truth[X[flip, 0]]  # worker 0 always lies
    model = make(name).fit(X, n_classes=2)
    assert model.skills_[0] == model.skills_.min()
    if name != "mace":  # MACE models bad workers as spammers, not as label permuters
        assert model.skills_[0] < 0.5 < np.median(model.skills_)
        assert model.errors_[0, 0, 1] > 0.5 and model.errors_[0, 1, 0] > 0.5
    assert np.mean(model.labels_ == truth) >= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_predict_on_fitted_state(name):
    X, _ = crowd(k=3)
    model = make(name)
    with pytest.raises(NotFittedError):
        model.predict()
    model.fit(X, n_classes=3)
    np.testing.assert_array_equal(model.predict(), model.labels_)
    new = np.array([[0, 1, 2], [0, 2, 2], [1, 99, 0]])  # worker 99 was never seen
    p = model.predict_proba(new)
    assert p.shape == (2, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert model.predict(new)[0] == 2


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_beats_chance_on_a_random_crowd(name):
    X, truth = crowd(seed=11, n_tasks=200, n_workers=12, k=3, per_task=3, acc=0.7)
    assert np.mean(make(name).fit_predict(X, n_classes=3) == truth) > 0.8


def test_registry_names():
    assert set(AGGREGATORS) == {"majority_vote", "wawa", "dawid_skene", "one_coin_dawid_skene",
                                "glad", "mace", "ibcc", "auto"}
    for cls in AGGREGATORS.values():
        cls()  # every aggregator has keyword defaults only


def test_glad_fisher_scoring_and_lbfgs_agree():
    X, truth = crowd(seed=5, n_tasks=150, n_workers=10, k=3, per_task=4, acc=0.7)
    fisher = AGGREGATORS["glad"]().fit(X, n_classes=3)
    lbfgs = AGGREGATORS["glad"](solver="lbfgs").fit(X, n_classes=3)
    assert np.mean(fisher.labels_ == lbfgs.labels_) >= 0.97
    assert np.corrcoef(fisher.alphas_, lbfgs.alphas_)[0, 1] > 0.9
    assert np.mean(fisher.labels_ == truth) > 0.85
    with pytest.raises(ValueError, match="solver"):
        AGGREGATORS["glad"](solver="sgd").fit(X)
