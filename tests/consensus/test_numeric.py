import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.numeric import WeightedMedian, grouped_weighted_median, weighted_median

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=15))
def test_equal_weights_give_the_ordinary_median(values):
    assert weighted_median(values) == pytest.approx(np.median(values), rel=1e-12, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(finite, st.integers(1, 8), st.lists(st.floats(0.1, 10), min_size=8, max_size=8))
def test_identical_values_give_that_value_with_full_confidence(value, n, w):
    X = np.column_stack([np.zeros(n, int), np.arange(n)])
    m = WeightedMedian().fit(X, [value] * n, weights=w[:n])
    assert m.values_[0] == value
    assert m.spread_[0] == 0.0
    assert m.confidence_[0] == 1.0
    assert not m.outliers_.any()


def test_weights_move_the_median_to_the_heavy_worker():
    assert weighted_median([1, 2, 10], [1, 1, 5]) == 10.0
    assert weighted_median([1, 2, 10], [5, 1, 1]) == 1.0
    # cumulative weight lands exactly on one half: average of the two middle values
    assert weighted_median([1, 3], [2, 2]) == 2.0
    # zero weights take no part
    assert weighted_median([1, 2, 100], [1, 1, 0]) == 1.5


def test_all_zero_weights_fall_back_to_equal_weights():
    out = grouped_weighted_median([0, 0, 0], [1.0, 5.0, 9.0], [0.0, 0.0, 0.0], 1)
    assert out.tolist() == [5.0]


def test_gross_error_is_flagged_and_does_not_move_the_median():
    rng = np.random.default_rng(0)
    values = np.append(5 + rng.normal(0, 0.1, 10), 1000.0)
    X = np.column_stack([np.zeros(11, int), np.arange(11)])
    m = WeightedMedian().fit(X, values)
    assert abs(m.values_[0] - 5) < 0.1
    assert m.outliers_.tolist() == [False] * 10 + [True]
    assert m.confidence_[0] == pytest.approx(10 / 11)
    # robust spread estimates the inliers' sd (0.1), not the outlier's pull
    assert 0.03 < m.spread_[0] < 0.3


def test_per_task_results_and_tasks_without_answers():
    X = np.array([[0, 0], [0, 1], [0, 2], [2, 0], [2, 1]])
    m = WeightedMedian().fit(X, [1.0, 2.0, 3.0, 4.0, 8.0], n_tasks=4)
    assert m.values_[[0, 2]].tolist() == [2.0, 6.0]
    assert np.isnan(m.values_[[1, 3]]).all()
    assert m.n_answers_.tolist() == [3, 0, 2, 0]
    assert np.isnan(m.confidence_[1])


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_renaming_workers_and_shuffling_rows_change_nothing(data):
    n = data.draw(st.integers(2, 20))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    tasks = rng.integers(0, 4, n)
    workers = rng.integers(0, 6, n)
    values = rng.normal(size=n).round(2)
    w = rng.uniform(0.1, 3, 6)
    X = np.column_stack([tasks, workers])
    a = WeightedMedian().fit(X, values, weights=w, n_tasks=4)
    perm = rng.permutation(6)  # worker k becomes perm[k]
    rows = rng.permutation(n)
    w2 = np.empty(6)
    w2[perm] = w
    b = WeightedMedian().fit(np.column_stack([tasks, perm[workers]])[rows], values[rows],
                             weights=w2, n_tasks=4)
    np.testing.assert_array_equal(a.values_, b.values_)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_array_equal(a.outliers_[rows], b.outliers_)


@pytest.mark.parametrize(
    "X, values, weights, message",
    [
        (np.zeros((0, 2), int), [], None, "empty"),
        ([[0, 0], [0, 1]], [1.0, np.nan], None, "finite"),
        ([[0, 0, 0]], [1.0], None, "shape"),
        ([[0, 0], [0, 1]], [1.0], None, "shape"),
        ([[0, -1]], [1.0], None, ">= 0"),
        ([[0.5, 0]], [1.0], None, "integer"),
        ([[0, 0], [0, 1]], [1.0, 2.0], [1.0, -1.0], ">= 0"),
        ([[0, 0], [0, 1]], [1.0, 2.0], [1.0], "one entry per worker"),
    ],
)
def test_bad_input_raises_invalid_answers(X, values, weights, message):
    with pytest.raises(InvalidAnswers, match=message):
        WeightedMedian().fit(np.asarray(X), values, weights=weights)


def test_bad_hyperparameter_and_empty_median():
    with pytest.raises(ValueError, match="outlier_threshold"):
        WeightedMedian(outlier_threshold=0).fit([[0, 0]], [1.0])
    with pytest.raises(ValueError, match="empty"):
        weighted_median([])


@pytest.mark.parametrize(
    "module", ["numeric", "boxes", "spans", "transcripts", "quality", "agreement"])
def test_docstring_examples_run_and_hold(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"consensus.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
