import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.spans import SpanVote, span_f1


def test_span_f1_is_exact_match_f1():
    assert span_f1([(0, 5, 1)], [(0, 5, 1)]) == 1.0
    assert span_f1([(0, 5, 1)], [(0, 4, 1)]) == 0.0
    assert span_f1([(0, 5, 1), (6, 9, 2)], [(0, 5, 1)]) == pytest.approx(2 / 3)
    assert span_f1([], []) == 1.0
    assert span_f1([], [(0, 1, 0)]) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 10), st.integers(0, 3)),
                min_size=0, max_size=4, unique_by=lambda s: s[0] // 11),
       st.integers(1, 5))
def test_unanimous_spans_come_back_unchanged_with_full_confidence(raw, n):
    # non-overlapping, non-adjacent spans (one per 11-character block)
    spans = sorted({(11 * (s // 11), 11 * (s // 11) + ln, lab) for s, ln, lab in raw})
    rows = [(0, w, lab) for w in range(n) for _, _, lab in spans] or [(0, w, -1) for w in range(n)]
    offsets = [(s, e) for _ in range(n) for s, e, _ in spans] or [(0, 0)] * n
    v = SpanVote().fit(np.array(rows), offsets, text_lengths=[60])
    assert [tuple(s) for s in v.spans_.tolist()] == spans
    assert np.all(v.confidence_ == 1.0)
    assert v.worker_f1_.tolist() == [1.0] * n


def test_majority_per_character_and_per_label():
    X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1], [0, 2, 2], [0, 0, 2], [0, 1, 3]])
    S = [[0, 5], [0, 4], [0, 5], [10, 12], [10, 12], [10, 12]]
    v = SpanVote().fit(X, S, text_lengths=[20])
    assert v.spans_.tolist() == [[0, 5, 1], [10, 12, 2]]
    assert v.tasks_.tolist() == [0, 0]
    # characters 0-3: all three; character 4: two of three -> mean share (4*1 + 2/3) / 5
    assert v.confidence_[0] == pytest.approx((4 + 2 / 3) / 5)
    assert v.confidence_[1] == pytest.approx(2 / 3)
    np.testing.assert_allclose(v.worker_f1_, [1.0, 0.0, 1.0])


def test_adjacent_spans_with_different_labels_stay_separate_and_texts_do_not_leak():
    X = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0]])
    S = [[0, 3], [3, 6], [0, 4]]
    v = SpanVote().fit(X, S, text_lengths=[6, 4])
    assert v.tasks_.tolist() == [0, 0, 1]
    assert v.spans_.tolist() == [[0, 3, 0], [3, 6, 1], [0, 4, 0]]


def test_weights_and_min_share():
    X = np.array([[0, 0, 1], [0, 1, -1], [0, 2, -1]])
    S = [[2, 6], [0, 0], [0, 0]]
    assert SpanVote().fit(X, S, text_lengths=[10]).spans_.tolist() == []
    heavy = SpanVote().fit(X, S, text_lengths=[10], weights=[3, 1, 1])
    assert heavy.spans_.tolist() == [[2, 6, 1]]
    assert heavy.confidence_ == pytest.approx([0.6])
    # split labels: label 1 has a plurality (2 of 5) but not more than half
    X2 = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 2], [0, 3, 3], [0, 4, -1]])
    S2 = [[0, 4]] * 4 + [[0, 0]]
    assert SpanVote().fit(X2, S2, text_lengths=[4]).spans_.tolist() == [[0, 4, 1]]
    assert SpanVote(min_share=0.5).fit(X2, S2, text_lengths=[4]).spans_.tolist() == []


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_renaming_workers_and_shuffling_rows_change_nothing(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = 12
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 5, n), rng.integers(0, 3, n)])
    start = rng.integers(0, 25, n)
    S = np.column_stack([start, start + rng.integers(1, 6, n)])
    w = rng.uniform(0.5, 2, 5)
    a = SpanVote().fit(X, S, text_lengths=[30, 30], weights=w)
    perm, order = rng.permutation(5), rng.permutation(n)
    w2 = np.empty(5)
    w2[perm] = w
    X2 = X.copy()
    X2[:, 1] = perm[X[:, 1]]
    b = SpanVote().fit(X2[order], S[order], text_lengths=[30, 30], weights=w2)
    np.testing.assert_array_equal(a.spans_, b.spans_)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_allclose(a.worker_f1_, b.worker_f1_[perm])


@pytest.mark.parametrize(
    "X, S, lengths, message",
    [
        (np.zeros((0, 3), int), np.zeros((0, 2)), [5], "empty"),
        ([[0, 0, 0]], [[4, 2]], [5], "end > start"),
        ([[0, 0, 0]], [[2, 2]], [5], "end > start"),
        ([[0, 0, 0]], [[0, 9]], [5], "within"),
        ([[0, 0, 0]], [[np.nan, 2]], [5], "finite"),
        ([[0, 0, 0]], [[0.5, 2]], [5], "integers"),
        ([[1, 0, 0]], [[0, 2]], [5], "one length per task"),
        ([[0, 0, 0]], [[0, 2]], [-1], ">= 0"),
    ],
)
def test_bad_input_raises_invalid_answers(X, S, lengths, message):
    with pytest.raises(InvalidAnswers, match=message):
        SpanVote().fit(np.asarray(X), S, text_lengths=lengths)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_worker_f1_is_the_mean_span_f1_over_the_workers_texts(seed):
    rng = np.random.default_rng(seed)
    n = 15
    X = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 4, n), rng.integers(-1, 2, n)])
    start = rng.integers(0, 6, n)
    S = np.column_stack([start, start + rng.integers(1, 4, n)])
    v = SpanVote().fit(X, S, text_lengths=[10, 10, 10], n_classes=2)
    consensus = {t: [tuple(s) for s, tt in zip(v.spans_.tolist(), v.tasks_) if tt == t]
                 for t in range(3)}
    assert len(v.worker_f1_) == X[:, 1].max() + 1
    for w in range(len(v.worker_f1_)):
        texts = sorted({t for t, ww, _ in X.tolist() if ww == w})
        if not texts:
            assert np.isnan(v.worker_f1_[w])
            continue
        own = {t: [(s, e, lab) for (tt, ww, lab), (s, e) in zip(X.tolist(), S.tolist())
                   if tt == t and ww == w and lab >= 0] for t in texts}
        expected = np.mean([span_f1(own[t], consensus[t]) for t in texts])
        assert v.worker_f1_[w] == pytest.approx(expected)
