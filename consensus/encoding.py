"""Turn raw ``(task, worker, label)`` ids into the integer codes aggregators read.

>>> enc = encode_answers(["a", "a", "b"], ["ann", "bob", "ann"], ["cat", "dog", "dog"])
>>> enc.X.tolist()
[[0, 0, 0], [0, 1, 1], [1, 0, 1]]
>>> enc.classes.tolist(), enc.n_classes
(['cat', 'dog'], 2)
>>> enc.decode([1, 0]).tolist()
['dog', 'cat']

Codes follow the sorted order of the distinct values when they sort (strings, ints),
else their order of first appearance.  If ``classes`` is given it fixes the class codes
(``classes[i]`` gets code ``i``), so a class nobody chose still exists.

Duplicated ``(task, worker)`` pairs: **the first answer is kept** and later ones are
dropped (a worker gets one vote per task; re-submissions should be resolved upstream).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidAnswers

__all__ = ["EncodedAnswers", "encode_answers"]


@dataclass(frozen=True, eq=False)
class EncodedAnswers:
    """Integer-coded answers plus the original values (index = code)."""

    X: np.ndarray  # int64 (n_answers, 3): task, worker, label codes
    tasks: np.ndarray
    workers: np.ndarray
    classes: np.ndarray

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def decode(self, label_codes):
        """Class values for an array of label codes (e.g. ``model.labels_``)."""
        return self.classes[np.asarray(label_codes, dtype=np.int64)]

    def encode_gold(self, tasks, labels):
        """Gold ``y`` (n_tasks,) with ``-1`` unknown from parallel task / label sequences.

        Raises :class:`InvalidAnswers` for a task that has no answers or an unknown label.
        """
        tasks, labels = _as_1d(tasks, "gold tasks"), _as_1d(labels, "gold labels")
        if len(tasks) != len(labels):
            raise InvalidAnswers(
                f"gold tasks and labels differ in length: {len(tasks)} != {len(labels)}"
            )
        y = np.full(self.n_tasks, -1, dtype=np.int64)
        if len(tasks):
            y[_lookup(self.tasks, tasks, "task")] = _lookup(self.classes, labels, "label")
        return y


def _as_1d(values, name):
    """1-D array of the values, native dtype when possible; rejects None / NaN."""
    arr = np.asarray(values) if isinstance(values, np.ndarray) else None
    if arr is None or arr.dtype == object or arr.ndim != 1:
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
        if arr.size:
            types = {type(v) for v in arr}
            if all(issubclass(k, (int, np.integer)) and not issubclass(k, bool) for k in types):
                arr = arr.astype(np.int64)
            elif types == {str}:
                arr = arr.astype(str)
    if arr.dtype == object:
        missing = [v is None or (isinstance(v, float) and v != v) for v in arr]
        if any(missing):
            raise InvalidAnswers(
                f"{name} contain a missing value (None or NaN) at position {missing.index(True)}"
            )
    elif arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InvalidAnswers(f"{name} contain NaN or infinity")
    return arr


def _factorize(values):
    """(uniques, codes): sorted uniques when sortable, else first-appearance order."""
    try:
        uniques, codes = np.unique(values, return_inverse=True)
    except TypeError:  # unorderable mix (e.g. int and str): first appearance
        seen = {}
        codes = np.fromiter((seen.setdefault(v, len(seen)) for v in values), np.int64, len(values))
        uniques = np.empty(len(seen), dtype=object)
        uniques[:] = list(seen)
    return uniques, codes.astype(np.int64).reshape(-1)


def _lookup(known, values, what):
    """Codes of ``values`` in the value array ``known``; unknown values raise."""
    table = {v: i for i, v in enumerate(known.tolist())}
    uniq, inv = _factorize(values)
    codes = np.empty(len(uniq), dtype=np.int64)
    for j, v in enumerate(uniq.tolist()):
        if v not in table:
            raise InvalidAnswers(f"unknown {what} {v!r} (known: {known.tolist()[:20]})")
        codes[j] = table[v]
    return codes[inv]


def encode_answers(tasks, workers, labels, *, classes=None) -> EncodedAnswers:
    """Encode equal-length sequences of hashable ids / labels to an :class:`EncodedAnswers`.

    Raises :class:`InvalidAnswers` (a ``ValueError``) for empty input, unequal lengths,
    missing values (None / NaN) or, when ``classes`` is given, a label not in it.
    """
    t, w, lab = _as_1d(tasks, "tasks"), _as_1d(workers, "workers"), _as_1d(labels, "labels")
    if not (len(t) == len(w) == len(lab)):
        raise InvalidAnswers(
            f"tasks, workers and labels must have equal lengths, got {len(t)}, {len(w)}, {len(lab)}"
        )
    if len(t) == 0:
        raise InvalidAnswers("no answers to encode: tasks, workers and labels are empty")
    task_values, task_codes = _factorize(t)
    worker_values, worker_codes = _factorize(w)
    # keep the first answer of each (task, worker) pair, in input order
    pair = task_codes * len(worker_values) + worker_codes
    _, first = np.unique(pair, return_index=True)
    keep = np.sort(first)
    if classes is None:
        class_values, label_codes = _factorize(lab[keep])
    else:
        class_values = _as_1d(classes, "classes")
        if len(class_values) == 0:
            raise InvalidAnswers("classes is empty")
        if len(set(class_values.tolist())) != len(class_values):
            raise InvalidAnswers("classes contains duplicates")
        label_codes = _lookup(class_values, lab[keep], "label")
    X = np.column_stack([task_codes[keep], worker_codes[keep], label_codes]).astype(np.int64)
    return EncodedAnswers(X=X, tasks=task_values, workers=worker_values, classes=class_values)
