import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import InvalidAnswers
from consensus.transcripts import ROVER, TextMedoid, edit_distance, word_error_rate

words = st.lists(st.sampled_from(["a", "b", "c", "the", "cat"]), max_size=8)


def _reference_levenshtein(a, b):
    """Textbook O(nm) double loop, to check the vectorized rows against."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


@settings(max_examples=80, deadline=None)
@given(words, words)
def test_edit_distance_matches_the_textbook_recurrence(a, b):
    assert edit_distance(a, b) == _reference_levenshtein(a, b) == edit_distance(b, a)


@settings(max_examples=40, deadline=None)
@given(words)
def test_wer_of_a_transcript_with_itself_is_zero(x):
    assert word_error_rate(x, x) == 0.0


def test_wer_known_values():
    assert word_error_rate("the cat sat", "the cat sat") == 0.0
    assert word_error_rate("the bat sat", "the cat sat") == pytest.approx(1 / 3)  # 1 sub
    assert word_error_rate("the sat", "the cat sat") == pytest.approx(1 / 3)  # 1 deletion
    assert word_error_rate("a the cat sat on", "the cat sat") == pytest.approx(2 / 3)  # 2 ins
    assert word_error_rate("x y z w", "a") == 4.0  # can exceed 1
    with pytest.raises(InvalidAnswers, match="reference is empty"):
        word_error_rate("a", "")


@settings(max_examples=40, deadline=None)
@given(words, st.integers(1, 5))
def test_rover_and_medoid_of_identical_transcripts_return_it(x, n):
    X = np.column_stack([np.zeros(n, int), np.arange(n)])
    for model in (ROVER(), TextMedoid()):
        model.fit(X, [" ".join(x)] * n)
        assert model.texts_ == [" ".join(x)]
        assert model.confidence_[0] == 1.0


def test_rover_votes_per_slot_with_null_arcs():
    X = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
    texts = ["the cat sat", "the bat sat down", "a cat sat down",
             "a b c", "a c", "a c"]
    r = ROVER().fit(X, texts)
    # task 0: every word wins 2 of 3; task 1: "b" loses to the null arc 1 to 2
    assert r.texts_ == ["the cat sat down", "a c"]
    assert r.confidence_[0] == pytest.approx(2 / 3 + (1 - 2 / 3) * 1 / 4)
    assert r.confidence_[1] == pytest.approx((1 + 2 / 3 + 1) / 3)
    # ROVER can output a text nobody wrote; the medoid cannot
    assert r.texts_[0] not in texts
    assert TextMedoid().fit(X, texts).texts_[0] in texts


def test_weights_decide_rover_and_the_medoid():
    X = np.array([[0, 0], [0, 1], [0, 2]])
    texts = ["one two three", "one too three", "one too three"]
    assert ROVER().fit(X, texts).texts_ == ["one too three"]
    assert ROVER().fit(X, texts, weights=[5, 1, 1]).texts_ == ["one two three"]
    assert TextMedoid().fit(X, texts).texts_ == ["one too three"]
    assert TextMedoid().fit(X, texts, weights=[5, 1, 1]).texts_ == ["one two three"]


def test_tasks_without_answers_and_word_lists():
    X = np.array([[2, 0], [2, 1]])
    r = ROVER().fit(X, [["hello", "world"], ["hello", "world"]], n_tasks=4)
    assert r.texts_ == ["", "", "hello world", ""]
    assert np.isnan(r.confidence_[[0, 1, 3]]).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(words, min_size=1, max_size=5), st.data())
def test_renaming_workers_and_shuffling_rows_change_nothing(hyps, data):
    n = len(hyps)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w = rng.uniform(0.5, 2, n).round(1)
    X = np.column_stack([np.zeros(n, int), np.arange(n)])
    perm, order = rng.permutation(n), rng.permutation(n)
    w2 = np.empty(n)
    w2[perm] = w
    X2 = np.column_stack([np.zeros(n, int), perm])[order]
    texts = [" ".join(h) for h in hyps]
    for model in (ROVER, TextMedoid):
        a = model().fit(X, texts, weights=w)
        b = model().fit(X2, [texts[i] for i in order], weights=w2)
        assert a.texts_ == b.texts_
        np.testing.assert_allclose(a.confidence_, b.confidence_)


@pytest.mark.parametrize(
    "X, texts, message",
    [
        (np.zeros((0, 2), int), [], "empty"),
        ([[0, 0, 0]], ["a"], "shape"),
        ([[0, 0], [0, 1]], ["a"], "one entry per answer"),
        ([[0, 0]], [3.5], "string"),
    ],
)
def test_bad_input_raises_invalid_answers(X, texts, message):
    with pytest.raises(InvalidAnswers, match=message):
        ROVER().fit(np.asarray(X), texts)
