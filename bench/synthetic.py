"""Seeded Dawid–Skene crowd generator for benchmarks and robustness checks.

Every worker has a confusion matrix drawn from its *type*:

* ``reliable``   accuracy ~ U(0.75, 0.95), errors spread by a Dirichlet draw;
* ``sloppy``     accuracy ~ U(0.45, 0.7), class-specific confusions;
* ``spammer``    uniform random answers;
* ``constant``   always the same (random) label;
* ``adversarial`` a reliable worker whose labels go through a fixed derangement.

Worker activity is long-tailed: worker ``i`` (in random order) gets weight
``1 / (i + 1) ** zipf``, so a few workers answer most tasks and many answer a handful.
Each task receives ``answers_per_task`` answers from workers drawn by those weights;
distinct workers (a task only falls short when the heavy-tailed draw repeats the same
worker many times), so the total is ``n_answers`` up to rounding.

    python bench/synthetic.py --n-answers 100000 --seed 0   # prints a summary

>>> from synthetic import generate
>>> X, truth = generate(n_answers=2000, n_classes=3, seed=1)
>>> X.shape[1], bool(truth.min() >= 0)
(3, True)
"""

from __future__ import annotations

import argparse

import numpy as np

DEFAULT_MIX = {"reliable": 0.45, "sloppy": 0.3, "spammer": 0.1, "constant": 0.08, "adversarial": 0.07}


def _confusions(rng, types, n_classes):
    n = len(types)
    k = n_classes
    conf = np.empty((n, k, k))
    for i, kind in enumerate(types):
        if kind in ("reliable", "adversarial", "sloppy"):
            lo, hi = (0.45, 0.7) if kind == "sloppy" else (0.75, 0.95)
            acc = rng.uniform(lo, hi, size=k)
            conc = 0.5 if kind == "sloppy" else 2.0
            off = rng.dirichlet(np.full(max(k - 1, 1), conc), size=k)
            m = np.zeros((k, k))
            for c in range(k):
                others = [j for j in range(k) if j != c]
                m[c, c] = acc[c] if k > 1 else 1.0
                if others:
                    m[c, others] = (1 - acc[c]) * off[c, : len(others)]
            if kind == "adversarial" and k > 1:
                m = m[:, np.roll(np.arange(k), 1)]  # always shifted by one class
            conf[i] = m
        elif kind == "spammer":
            conf[i] = 1.0 / k
        elif kind == "constant":
            conf[i] = 0.0
            conf[i, :, rng.integers(k)] = 1.0
        else:
            raise ValueError(f"unknown worker type {kind!r}")
    return conf


def generate(
    *,
    n_answers=100_000,
    answers_per_task=5,
    n_workers=None,
    n_classes=4,
    mix=None,
    zipf=1.0,
    class_skew=0.0,
    seed=0,
    return_workers=False,
):
    """Return ``(X, truth)``: int64 answers ``(n, 3)`` and the true class of each task.

    ``class_skew`` > 0 makes class frequencies geometric (``exp(-skew * k)``).  With
    ``return_workers=True`` also return ``(types, confusions)``.
    """
    rng = np.random.default_rng(seed)
    mix = dict(DEFAULT_MIX if mix is None else mix)
    n_tasks = max(1, n_answers // answers_per_task)
    if n_workers is None:
        n_workers = max(answers_per_task + 1, int(np.sqrt(n_answers)) // 2)
    names = list(mix)
    p = np.array([mix[n] for n in names], dtype=float)
    types = [names[i] for i in rng.choice(len(names), size=n_workers, p=p / p.sum())]
    conf = _confusions(rng, types, n_classes)

    weights = 1.0 / (rng.permutation(n_workers) + 1.0) ** zipf
    weights /= weights.sum()
    class_p = np.exp(-class_skew * np.arange(n_classes))
    truth = rng.choice(n_classes, size=n_tasks, p=class_p / class_p.sum())

    # draw a few spare candidates per task, drop repeated (task, worker) pairs, then keep
    # the first ``answers_per_task`` distinct workers of each task
    n_draw = answers_per_task + 3
    tasks = np.repeat(np.arange(n_tasks), n_draw)
    workers = rng.choice(n_workers, size=tasks.size, p=weights)
    _, first = np.unique(tasks * n_workers + workers, return_index=True)
    keep = np.sort(first)
    tasks, workers = tasks[keep], workers[keep]
    start = np.searchsorted(tasks, tasks)  # index of each task's first kept row
    keep = (np.arange(tasks.size) - start) < answers_per_task
    tasks, workers = tasks[keep], workers[keep]

    rows = conf[workers, truth[tasks]]  # (n, K) answer distribution per answer
    u = rng.random(tasks.size)[:, None]
    labels = np.minimum((rows.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)
    X = np.column_stack([tasks, workers, labels]).astype(np.int64)
    if return_workers:
        return X, truth, (types, conf)
    return X, truth


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-answers", type=int, default=100_000)
    ap.add_argument("--answers-per-task", type=int, default=5)
    ap.add_argument("--n-classes", type=int, default=4)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    X, truth, (types, _) = generate(
        n_answers=args.n_answers, answers_per_task=args.answers_per_task,
        n_classes=args.n_classes, zipf=args.zipf, seed=args.seed, return_workers=True,
    )
    n_per_worker = np.bincount(X[:, 1], minlength=len(types))
    print(f"answers={len(X)} tasks={truth.size} workers={len(types)} classes={args.n_classes}")
    for kind in sorted(set(types)):
        sel = np.array([t == kind for t in types])
        print(f"  {kind:12s} workers={sel.sum():5d} answers={n_per_worker[sel].sum():8d}")


if __name__ == "__main__":
    main()
