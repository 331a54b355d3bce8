import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.quality import WorkerQuality, spammer_score, worker_quality


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_binary_spammer_score_is_abs_sensitivity_plus_specificity_minus_one(spec, sens):
    A = np.array([[spec, 1 - spec], [1 - sens, sens]])
    assert spammer_score(A) == pytest.approx(abs(sens + spec - 1), abs=1e-12)


def test_spammer_score_of_rank_one_perfect_and_inverted_workers():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(4))
    assert spammer_score(np.tile(a, (4, 1))) == pytest.approx(0.0, abs=1e-12)
    assert spammer_score(np.eye(4)) == pytest.approx(1.0)
    assert spammer_score(np.eye(4)[[1, 2, 3, 0]]) == pytest.approx(1.0)
    stack = spammer_score(np.stack([np.eye(3), np.full((3, 3), 1 / 3)]))
    np.testing.assert_allclose(stack, [1.0, 0.0], atol=1e-12)
    with pytest.raises(InvalidAnswers, match="shape"):
        spammer_score(np.ones((2, 3)))


def _simulate(n_tasks=300, seed=0):
    """Worker 0 always right, worker 1 right 70%, worker 2 answers uniformly at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_tasks)
    rows = []
    for t in range(n_tasks):
        rows.append((t, 0, truth[t]))
        rows.append((t, 1, truth[t] if rng.random() < 0.7 else (truth[t] + 1) % 3))
        rows.append((t, 2, rng.integers(0, 3)))
    return np.array(rows), truth


def test_scores_rank_a_good_a_fair_and_a_random_worker():
    X, truth = _simulate()
    probas = np.eye(3)[truth]
    q = worker_quality(X, probas)
    assert isinstance(q, WorkerQuality)
    assert q.n_answers.tolist() == [300, 300, 300]
    assert q.agreement[0] == 1.0
    assert 0.62 < q.agreement[1] < 0.78
    assert 0.23 < q.agreement[2] < 0.43
    assert q.skill[0] > q.skill[1] > q.skill[2]
    # skill is the Beta(1 + correct, 1 + wrong) mean, e.g. (1 + 300) / 302 for worker 0
    assert q.skill[0] == pytest.approx(301 / 302)
    assert np.all(q.skill_low < q.skill) and np.all(q.skill < q.skill_high)
    assert q.spammer_score[2] < 0.15 < 0.5 < q.spammer_score[1] < q.spammer_score[0]
    assert np.isnan(q.gold_accuracy).all() and q.gold_total.tolist() == [0, 0, 0]


def test_credible_interval_narrows_with_more_answers_and_widens_with_credibility():
    X, truth = _simulate(400)
    probas = np.eye(3)[truth]
    few = worker_quality(X[:30], probas)
    many = worker_quality(X, probas)
    width = lambda q: q.skill_high - q.skill_low  # noqa: E731
    assert np.all(width(many) < width(few))
    wide = worker_quality(X, probas, credibility=0.99)
    assert np.all(width(wide) > width(many))


def test_gold_counts_override_the_posterior():
    X = np.array([[0, 0, 1], [1, 0, 0], [2, 0, 1], [0, 1, 0]])
    probas = np.full((3, 2), 0.5)
    q = worker_quality(X, probas, y=[1, 1, -1])
    assert q.gold_total.tolist() == [2, 1]
    assert q.gold_correct.tolist() == [1, 0]
    assert q.gold_accuracy.tolist() == [0.5, 0.0]
    # worker 0: correct soft counts 1 + 0 + 0.5 of 3 -> Beta(2.5, 2.5) mean
    assert q.skill[0] == pytest.approx(0.5)
    assert q.skill[1] == pytest.approx(1 / 3)


def test_given_confusion_matrices_are_used_for_the_spammer_score():
    X = np.array([[0, 0, 0], [0, 1, 1]])
    errors = np.stack([np.eye(2), np.full((2, 2), 0.5)])
    q = worker_quality(X, np.array([[1.0, 0.0]]), errors=errors)
    np.testing.assert_allclose(q.spammer_score, [1.0, 0.0])
    assert set(q.to_dict()) == {
        "n_answers", "gold_total", "gold_correct", "gold_accuracy", "agreement",
        "skill", "skill_low", "skill_high", "spammer_score"}
    assert all(len(v) == 2 for v in q.to_dict().values())


def test_workers_without_answers_get_a_row():
    X = np.array([[0, 0, 0]])
    q = worker_quality(X, np.array([[1.0, 0.0]]), n_workers=3)
    assert q.n_answers.tolist() == [1, 0, 0]
    assert np.isnan(q.agreement[1])
    assert q.skill[1] == pytest.approx(0.5)  # the prior mean


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"probas": np.ones((1, 2)) / 2}, "n_tasks"),
        ({"probas": np.array([[np.nan, 1], [0, 1]])}, "finite"),
        ({"probas": np.ones((2, 1))}, "n_classes"),
        ({"credibility": 1.0}, "credibility"),
        ({"prior": (0, 1)}, "prior"),
        ({"errors": np.ones((2, 3, 3))}, "errors"),
        ({"y": [0, 5]}, "gold"),
    ],
)
def test_bad_input_raises_invalid_answers(kwargs, message):
    args = {"probas": np.full((2, 2), 0.5)} | kwargs
    with pytest.raises(InvalidAnswers, match=message):
        worker_quality(np.array([[0, 0, 1], [1, 1, 0]]), **args)
