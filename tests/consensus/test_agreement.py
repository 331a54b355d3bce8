import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from consensus.agreement import fleiss_kappa, krippendorff_alpha, pairwise_cohen_kappa
from consensus.errors import InvalidAnswers

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1-5, missing answers as None. Published nominal alpha: 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]

# The worked example of Fleiss' kappa on Wikipedia ("Fleiss' kappa", Worked example):
# ten subjects, fourteen raters each, five categories; rows are category counts.
# Published kappa: 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def _from_reliability_matrix(matrix):
    return np.array([(u, w, v - 1) for w, row in enumerate(matrix)
                     for u, v in enumerate(row) if v is not None])


def _from_count_table(table):
    rows = []
    for item, counts in enumerate(table):
        rater = 0
        for label, c in enumerate(counts):
            rows += [(item, rater + r, label) for r in range(c)]
            rater += c
    return np.array(rows)


def test_krippendorff_alpha_matches_krippendorff_2011():
    X = _from_reliability_matrix(KRIPPENDORFF_2011)
    assert krippendorff_alpha(X) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_ignores_worker_names_and_unpairable_units():
    X = _from_reliability_matrix(KRIPPENDORFF_2011)
    renamed = X.copy()
    renamed[:, 1] = np.array([3, 0, 2, 1])[X[:, 1]]
    extra = np.vstack([X, [[12, 0, 0]]])  # a unit with a single answer adds nothing
    assert krippendorff_alpha(renamed) == pytest.approx(krippendorff_alpha(X))
    assert krippendorff_alpha(extra) == pytest.approx(krippendorff_alpha(X))


def test_fleiss_kappa_matches_the_published_example():
    assert fleiss_kappa(_from_count_table(FLEISS_EXAMPLE)) == pytest.approx(0.210, abs=5e-4)


def test_perfect_agreement_and_systematic_disagreement():
    same = np.array([(t, w, t % 3) for t in range(6) for w in range(3)])
    assert krippendorff_alpha(same) == pytest.approx(1.0)
    assert fleiss_kappa(same) == pytest.approx(1.0)
    assert pairwise_cohen_kappa(same, min_shared=2) == pytest.approx(1.0)
    # two coders who always disagree on a binary item: below chance
    opposite = np.array([(t, w, (t + w) % 2) for t in range(10) for w in range(2)])
    assert krippendorff_alpha(opposite) < 0
    assert fleiss_kappa(opposite) < 0
    assert pairwise_cohen_kappa(opposite, min_shared=2) == pytest.approx(-1.0)


def test_fleiss_kappa_with_unequal_rater_counts():
    X = _from_count_table(FLEISS_EXAMPLE)
    extra = np.vstack([X, [[10, 0, 0], [10, 1, 1]]])  # an item with two raters only
    with pytest.raises(InvalidAnswers, match="same number of ratings"):
        fleiss_kappa(extra)
    assert fleiss_kappa(extra, unequal="modal") == pytest.approx(fleiss_kappa(X))
    with pytest.raises(InvalidAnswers, match="unequal"):
        fleiss_kappa(X, unequal="drop")


def test_pairwise_cohen_kappa_is_the_mean_over_pairs_with_enough_overlap():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (3, 40))
    labels[1, :30] = labels[0, :30]  # workers 0 and 1 agree often
    X = np.array([(t, w, labels[w, t]) for w in range(3) for t in range(40)
                  if not (w == 2 and t >= 12)])  # worker 2 shares only 12 tasks
    k01 = cohen_kappa_score(labels[0], labels[1])
    k02 = cohen_kappa_score(labels[0, :12], labels[2, :12])
    k12 = cohen_kappa_score(labels[1, :12], labels[2, :12])
    assert pairwise_cohen_kappa(X, min_shared=20) == pytest.approx(k01)
    assert pairwise_cohen_kappa(X, min_shared=10) == pytest.approx((k01 + k02 + k12) / 3)
    assert np.isnan(pairwise_cohen_kappa(X, min_shared=41))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 4), st.integers(1, 8))
def test_vectorized_pairwise_kappa_equals_sklearn_pair_by_pair(seed, k, min_shared):
    rng = np.random.default_rng(seed)
    answered = rng.random((5, 15)) < 0.7
    labels = rng.integers(0, k, (5, 15))
    X = np.array([(t, w, labels[w, t]) for w in range(5) for t in range(15) if answered[w, t]])
    expected = []
    for a, b in itertools.combinations(range(5), 2):
        both = answered[a] & answered[b]
        la, lb = labels[a, both], labels[b, both]
        if both.sum() >= min_shared and not (np.all(la == la[0]) and np.all(lb == la[0])):
            expected.append(cohen_kappa_score(la, lb, labels=np.arange(k)))
    got = pairwise_cohen_kappa(X, n_classes=k, min_shared=min_shared)
    if expected:
        assert got == pytest.approx(np.mean(expected))
    else:
        assert np.isnan(got)


def test_pairs_with_undefined_kappa_are_skipped():
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    assert np.isnan(pairwise_cohen_kappa(X, min_shared=1))


@pytest.mark.parametrize("metric", [krippendorff_alpha, fleiss_kappa, pairwise_cohen_kappa])
def test_bad_input_raises_invalid_answers(metric):
    with pytest.raises(InvalidAnswers):
        metric(np.zeros((0, 3), int))
    with pytest.raises(InvalidAnswers):
        metric(np.array([[0, 0]]))


def test_no_pairable_unit():
    with pytest.raises(InvalidAnswers, match="two answers"):
        krippendorff_alpha(np.array([[0, 0, 0], [1, 1, 1]]))
    with pytest.raises(InvalidAnswers, match="at least two"):
        fleiss_kappa(np.array([[0, 0, 0], [1, 1, 1]]))
    with pytest.raises(InvalidAnswers, match="min_shared"):
        pairwise_cohen_kappa(np.array([[0, 0, 0]]), min_shared=0)
