import numpy as np
import pytest

from consensus import InvalidAnswers, MultiLabelAggregator


def _data():
    # three workers; 0 and 1 tick the true set, 2 ticks label 2 everywhere
    truth = [{0}, {1}, {0, 1}, set(), {1}, {0}]
    rows, answered = [], []
    for t, labels in enumerate(truth):
        for w in range(3):
            answered.append((t, w))
            chosen = labels if w < 2 else {2}
            rows += [(t, w, lab) for lab in sorted(chosen)]
    return np.array(rows), np.array(answered), truth


@pytest.mark.parametrize("base", ["majority_vote", "dawid_skene", "auto"])
def test_per_label_aggregation(base):
    X, answered, truth = _data()
    model = MultiLabelAggregator(base=base).fit(X, answered, n_labels=3)
    expected = np.array([[lab in s for lab in range(3)] for s in truth])
    np.testing.assert_array_equal(model.labels_, expected)
    assert model.probas_.shape == (6, 3) and model.skills_.shape == (3, 3)
    assert np.all((model.probas_ >= 0) & (model.probas_ <= 1))


def test_without_answered_pairs_a_silent_worker_is_invisible():
    X, answered, _ = _data()
    with_pairs = MultiLabelAggregator(base="majority_vote").fit(X, answered, n_labels=3)
    without = MultiLabelAggregator(base="majority_vote").fit(X, None, n_labels=3)
    # task 3: workers 0 and 1 ticked nothing; only the explicit pairs say so
    assert not with_pairs.labels_[3, 2] and without.labels_[3, 2]


def test_gold_and_bad_input():
    X, answered, _ = _data()
    y = np.full((6, 3), -1)
    y[3] = [1, 0, 0]
    model = MultiLabelAggregator(base="dawid_skene").fit(X, answered, y, n_labels=3)
    assert model.labels_[3].tolist() == [True, False, False]
    with pytest.raises(InvalidAnswers, match="answered"):
        MultiLabelAggregator().fit(X, np.array([1, 2, 3]))
    with pytest.raises(InvalidAnswers, match="unknown base"):
        MultiLabelAggregator(base="nope").fit(X, answered)
    with pytest.raises(ValueError, match="shape"):
        MultiLabelAggregator().fit(X, answered, np.zeros(6), n_labels=3)
