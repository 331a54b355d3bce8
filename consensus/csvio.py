"""CSV in and out in crowd-kit's layout: answers ``task,worker,label``, gold ``task,label``.

Ids and labels are kept as strings (what the file says), encoded with
:func:`consensus.encode_answers`; results are written back with the original
ids. Uses only the stdlib ``csv`` module.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np

from consensus.encoding import EncodedAnswers, encode_answers
from consensus.errors import InvalidAnswers
from consensus.quality import WorkerQuality


def _read_columns(path, columns: Sequence[str], what: str) -> dict[str, list[str]]:
    """The named columns of a CSV file as lists of strings; raises InvalidAnswers when unusable."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InvalidAnswers(f"{what} file {os.fspath(path)!r} is empty")
            header = [h.strip() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise InvalidAnswers(
                    f"{what} file {os.fspath(path)!r} lacks column(s) {', '.join(missing)} "
                    f"(has: {', '.join(header)}; needs: {', '.join(columns)})"
                )
            idx = [header.index(c) for c in columns]
            out: dict[str, list[str]] = {c: [] for c in columns}
            for line, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                if len(row) <= max(idx):
                    raise InvalidAnswers(f"{what} file {os.fspath(path)!r} line {line}: too few fields")
                for c, i in zip(columns, idx):
                    value = row[i].strip()
                    if not value:
                        raise InvalidAnswers(
                            f"{what} file {os.fspath(path)!r} line {line}: empty {c!r}"
                        )
                    out[c].append(value)
    except OSError as exc:
        raise InvalidAnswers(f"cannot read {what} file {os.fspath(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidAnswers(f"{what} file {os.fspath(path)!r} is not UTF-8 text") from exc
    if not out[columns[0]]:
        raise InvalidAnswers(f"{what} file {os.fspath(path)!r} has a header but no rows")
    return out


def read_answers(path, gold_path=None) -> tuple[EncodedAnswers, np.ndarray | None]:
    """Read ``task,worker,label`` answers (and optional ``task,label`` gold).

    Returns the encoded answers and gold ``y`` (``(n_tasks,)``, -1 unknown) or
    None without a gold file. Gold labels nobody answered still become classes;
    gold rows for tasks without answers are ignored (nothing to score them on).
    A task listed twice in gold with different labels is an error.
    """
    ans = _read_columns(path, ("task", "worker", "label"), "answers")
    gold = _read_columns(gold_path, ("task", "label"), "gold") if gold_path is not None else None
    classes = set(ans["label"]) | (set(gold["label"]) if gold else set())
    enc = encode_answers(ans["task"], ans["worker"], ans["label"], classes=sorted(classes))
    if gold is None:
        return enc, None
    pairs = dict()
    for t, lab in zip(gold["task"], gold["label"]):
        if pairs.setdefault(t, lab) != lab:
            raise InvalidAnswers(f"gold file {os.fspath(gold_path)!r}: task {t!r} has two labels")
    known = set(enc.tasks.tolist())
    tasks = [t for t in pairs if t in known]
    return enc, enc.encode_gold(tasks, [pairs[t] for t in tasks])


def _write(path, header: Sequence[str], columns: Sequence[Sequence]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(zip(*columns))


def _fmt(values) -> list[str]:
    """Floats with 6 significant digits; NaN as an empty cell."""
    return ["" if not np.isfinite(v) else f"{v:.6g}" for v in np.asarray(values, dtype=float)]


def write_labels(path, tasks, labels, confidence) -> None:
    """Write ``task,label,confidence``, one row per task (labels already decoded)."""
    _write(path, ("task", "label", "confidence"),
           (list(tasks), list(labels), _fmt(confidence)))


def write_worker_scores(path, workers, quality: WorkerQuality) -> None:
    """Write ``worker`` plus one column per :class:`WorkerQuality` field."""
    scores = quality.to_dict()
    cols = [list(workers)]
    for name, values in scores.items():
        arr = np.asarray(values)[: len(cols[0])]
        cols.append([str(v) for v in arr] if arr.dtype.kind in "iu" else _fmt(arr))
    _write(path, ("worker", *scores), cols)
