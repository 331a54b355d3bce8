import numpy as np
import pytest

from consensus import EncodedAnswers, InvalidAnswers, encode_answers


def test_codes_and_decoding():
    enc = encode_answers(["t2", "t1", "t1"], ["bob", "ann", "bob"], ["dog", "cat", "dog"])
    assert isinstance(enc, EncodedAnswers)
    assert enc.tasks.tolist() == ["t1", "t2"] and enc.workers.tolist() == ["ann", "bob"]
    assert enc.X.dtype == np.int64
    assert enc.X.tolist() == [[1, 1, 1], [0, 0, 0], [0, 1, 1]]
    assert (enc.n_tasks, enc.n_workers, enc.n_classes) == (2, 2, 2)
    assert enc.decode([1, 0]).tolist() == ["dog", "cat"]


def test_integer_ids_keep_their_order():
    enc = encode_answers([10, 3, 3], [7, 7, 8], [2, 0, 1])
    assert enc.tasks.tolist() == [3, 10]
    assert enc.classes.tolist() == [0, 1, 2]


def test_fixed_classes_keep_unused_classes_and_reject_unknown():
    enc = encode_answers([1, 2], [1, 1], ["no", "no"], classes=["yes", "no", "maybe"])
    assert enc.n_classes == 3 and enc.X[:, 2].tolist() == [1, 1]
    with pytest.raises(InvalidAnswers, match="unknown label 'perhaps'"):
        encode_answers([1], [1], ["perhaps"], classes=["yes", "no"])
    with pytest.raises(ValueError, match="duplicates"):
        encode_answers([1], [1], ["no"], classes=["no", "no"])


def test_duplicate_task_worker_pairs_keep_the_first_answer():
    enc = encode_answers(["a", "a", "a"], ["w", "w", "v"], ["x", "y", "y"])
    assert enc.X.tolist() == [[0, 1, 0], [0, 0, 1]]


def test_mixed_unsortable_ids_use_first_appearance():
    enc = encode_answers([1, "one", 1], ["w", "w", "v"], ["x", "y", "x"])
    assert enc.tasks.tolist() == [1, "one"]


@pytest.mark.parametrize(
    "args, match",
    [
        (([], [], []), "empty"),
        (([1, 2], [1], [0, 0]), "equal lengths"),
        (([1, None], [1, 2], [0, 0]), "missing value"),
        (([1, 2], [1, 2], [0.0, float("nan")]), "NaN"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(InvalidAnswers, match=match):
        encode_answers(*args)


def test_encode_gold():
    enc = encode_answers(["a", "b", "c"], [1, 1, 1], ["x", "y", "x"])
    assert enc.encode_gold(["c", "a"], ["y", "x"]).tolist() == [0, -1, 1]
    with pytest.raises(InvalidAnswers, match="unknown task 'zz'"):
        enc.encode_gold(["zz"], ["x"])
    with pytest.raises(InvalidAnswers, match="unknown label 'q'"):
        enc.encode_gold(["a"], ["q"])
