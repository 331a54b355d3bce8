import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.matching import segment_f1
from consensus.segments import SegmentVote


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 39), st.floats(0.05, 2.0), st.integers(0, 3)),
                min_size=0, max_size=4, unique_by=lambda s: s[0] // 10),
       st.integers(1, 5))
def test_unanimous_segments_come_back_with_full_confidence(raw, n):
    # non-overlapping segments, one per 2.5-second block, bounds off the 0.01 s grid
    segs = sorted({(2.5 * (s // 10) + 0.123, 2.5 * (s // 10) + 0.123 + d, lab)
                   for s, d, lab in raw})
    rows = [(0, w, lab) for w in range(n) for _, _, lab in segs] or [(0, w, -1) for w in range(n)]
    times = [(a, b) for _ in range(n) for a, b, _ in segs] or [(0, 0)] * n
    v = SegmentVote().fit(np.array(rows), times, durations=[10.0])
    assert v.labels_.tolist() == [lab for _, _, lab in segs]
    np.testing.assert_allclose(v.segments_, np.array([s[:2] for s in segs]).reshape(-1, 2),
                               atol=0.005 + 1e-9)
    assert np.all(v.confidence_ == 1.0)
    assert v.worker_f1_.tolist() == [1.0] * n


def test_majority_per_time_step_and_seconds_out():
    X = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1], [0, 2, 0], [0, 0, 0], [0, 1, 2]])
    S = [[1.0, 3.0], [1.2, 3.0], [1.0, 2.5], [5.0, 6.0], [5.0, 6.0], [5.0, 6.0]]
    v = SegmentVote().fit(X, S, durations=[8.0])
    np.testing.assert_allclose(v.segments_, [[1.0, 3.0], [5.0, 6.0]])
    assert v.labels_.tolist() == [1, 0] and v.tasks_.tolist() == [0, 0]
    # 1.0-1.2: 2 of 3, 1.2-2.5: 3 of 3, 2.5-3.0: 2 of 3 (200 steps)
    assert v.confidence_[0] == pytest.approx((20 * 2 / 3 + 130 + 50 * 2 / 3) / 200)
    assert v.confidence_[1] == pytest.approx(2 / 3)
    np.testing.assert_allclose(v.worker_f1_, [1.0, 0.5, 1.0])


def test_resolution_rounds_the_bounds_and_short_segments_keep_a_step():
    X = np.array([[0, 0, 0], [0, 1, 0]])
    v = SegmentVote(resolution=0.5).fit(X, [[1.1, 2.9], [1.2, 3.1]], durations=[4.2])
    np.testing.assert_allclose(v.segments_, [[1.0, 3.0]])
    tiny = SegmentVote().fit(X, [[2.0, 2.001], [2.0, 2.001]], durations=[4.0])
    np.testing.assert_allclose(tiny.segments_, [[2.0, 2.01]])
    # the last step of a clip whose length is not a multiple of the resolution ends at the clip
    end = SegmentVote(resolution=0.5).fit(X, [[3.9, 4.2], [3.9, 4.2]], durations=[4.2])
    np.testing.assert_allclose(end.segments_, [[4.0, 4.2]])


def test_clips_do_not_leak_into_each_other_and_weights_and_min_share():
    X = np.array([[0, 0, 0], [1, 0, 0]])
    v = SegmentVote().fit(X, [[1.0, 2.0], [0.0, 0.5]], durations=[2.0, 3.0])
    assert v.tasks_.tolist() == [0, 1]
    np.testing.assert_allclose(v.segments_, [[1.0, 2.0], [0.0, 0.5]])
    X = np.array([[0, 0, 1], [0, 1, -1], [0, 2, -1]])
    S = [[2.0, 6.0], [0, 0], [0, 0]]
    assert len(SegmentVote().fit(X, S, durations=[10]).segments_) == 0
    heavy = SegmentVote().fit(X, S, durations=[10], weights=[3, 1, 1])
    np.testing.assert_allclose(heavy.segments_, [[2.0, 6.0]])
    assert heavy.confidence_ == pytest.approx([0.6])
    assert len(SegmentVote(min_share=0.6).fit(X, S, durations=[10], weights=[3, 1, 1])
               .segments_) == 0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_worker_f1_is_the_mean_segment_f1_over_the_workers_clips(seed):
    rng = np.random.default_rng(seed)
    n = 15
    X = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 4, n), rng.integers(-1, 2, n)])
    start = rng.uniform(0, 6, n)
    S = np.column_stack([start, start + rng.uniform(0.2, 3, n)])
    v = SegmentVote().fit(X, S, durations=[10, 10, 10], n_classes=2)
    consensus = {t: [{"start": a, "end": b, "label": lab}
                     for (a, b), lab, tt in zip(v.segments_.tolist(), v.labels_, v.tasks_)
                     if tt == t] for t in range(3)}
    assert len(v.worker_f1_) == X[:, 1].max() + 1
    for w in range(len(v.worker_f1_)):
        clips = sorted({t for t, ww, _ in X.tolist() if ww == w})
        if not clips:
            assert np.isnan(v.worker_f1_[w])
            continue
        own = {t: [{"start": a, "end": b, "label": lab}
                   for (tt, ww, lab), (a, b) in zip(X.tolist(), S.tolist())
                   if tt == t and ww == w and lab >= 0] for t in clips}
        expected = np.mean([segment_f1(own[t], consensus[t]) for t in clips])
        assert v.worker_f1_[w] == pytest.approx(expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_renaming_workers_and_shuffling_rows_change_nothing(seed):
    rng = np.random.default_rng(seed)
    n = 12
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 5, n), rng.integers(0, 3, n)])
    start = rng.uniform(0, 25, n)
    S = np.column_stack([start, start + rng.uniform(0.1, 5, n)])
    w = rng.uniform(0.5, 2, 5)
    a = SegmentVote().fit(X, S, durations=[30, 30], weights=w)
    perm, order = rng.permutation(5), rng.permutation(n)
    w2 = np.empty(5)
    w2[perm] = w
    X2 = X.copy()
    X2[:, 1] = perm[X[:, 1]]
    b = SegmentVote().fit(X2[order], S[order], durations=[30, 30], weights=w2)
    np.testing.assert_array_equal(a.segments_, b.segments_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.confidence_, b.confidence_)
    np.testing.assert_allclose(a.worker_f1_, b.worker_f1_[perm])


@pytest.mark.parametrize(
    "X, S, durations, params, message",
    [
        (np.zeros((0, 3), int), np.zeros((0, 2)), [5], {}, "empty"),
        ([[0, 0, 0]], [[4, 2]], [5], {}, "end > start"),
        ([[0, 0, 0]], [[2, 2]], [5], {}, "end > start"),
        ([[0, 0, 0]], [[0, 9]], [5], {}, "within"),
        ([[0, 0, 0]], [[-1, 2]], [5], {}, "within"),
        ([[0, 0, 0]], [[np.nan, 2]], [5], {}, "finite"),
        ([[0, 0, 0]], [[0, 2, 3]], [5], {}, "shape"),
        ([[1, 0, 0]], [[0, 2]], [5], {}, "one duration per task"),
        ([[0, 0, 0]], [[0, 2]], [-1], {}, ">= 0"),
        ([[0, 0, -3]], [[0, 2]], [5], {}, "-1"),
        ([[0, 0, 0]], [[0, 2]], [5], {"resolution": 0}, "resolution"),
        ([[0, 0, 0]], [[0, 2]], [5], {"min_share": 1.0}, "min_share"),
    ],
)
def test_bad_input_raises_invalid_answers(X, S, durations, params, message):
    with pytest.raises(InvalidAnswers, match=message):
        SegmentVote(**params).fit(np.asarray(X), S, durations=durations)
