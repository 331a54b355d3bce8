"""Timing of the non-categorical consensus modules on synthetic data; prints a table.

Run: .venv/bin/python bench/consensus_other.py
"""

from __future__ import annotations

import time

import numpy as np

from consensus.agreement import fleiss_kappa, krippendorff_alpha, pairwise_cohen_kappa
from consensus.boxes import BoxFusion
from consensus.numeric import WeightedMedian
from consensus.quality import worker_quality
from consensus.spans import SpanVote
from consensus.transcripts import ROVER, TextMedoid


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows = []

    n_tasks, per_task, n_workers = 20_000, 5, 200
    X = np.column_stack([np.repeat(np.arange(n_tasks), per_task),
                         rng.integers(0, n_workers, n_tasks * per_task)])
    values = rng.normal(size=len(X))
    rows.append(("WeightedMedian", f"{len(X):,} answers",
                 _timed(lambda: WeightedMedian().fit(X, values))))

    n_img, n_obj, n_w = 1_000, 4, 5
    tasks, workers, boxes = [], [], []
    centers = rng.uniform(0, 80, (n_img, n_obj, 2))
    for wk in range(n_w):
        jitter = rng.normal(0, 1, (n_img, n_obj, 2))
        tasks.append(np.repeat(np.arange(n_img), n_obj))
        workers.append(np.full(n_img * n_obj, wk))
        xy = (centers + jitter).reshape(-1, 2)
        boxes.append(np.column_stack([xy, np.full((len(xy), 2), 10.0)]))
    XB = np.column_stack([np.concatenate(tasks), np.concatenate(workers),
                          np.zeros(n_img * n_obj * n_w, int)])
    B = np.concatenate(boxes)
    rows.append(("BoxFusion", f"{len(XB):,} boxes", _timed(lambda: BoxFusion().fit(XB, B))))

    n_texts = 2_000
    start = rng.integers(0, 190, n_texts * 5)
    XS = np.column_stack([np.repeat(np.arange(n_texts), 5), np.tile(np.arange(5), n_texts),
                          rng.integers(0, 4, n_texts * 5)])
    S = np.column_stack([start, start + rng.integers(1, 10, len(start))])
    rows.append(("SpanVote", f"{len(XS):,} spans",
                 _timed(lambda: SpanVote().fit(XS, S, text_lengths=np.full(n_texts, 200)))))

    vocab = np.array([f"w{i}" for i in range(50)])
    n_utt = 500
    ref = rng.choice(vocab, (n_utt, 15))
    texts, XT = [], []
    for t in range(n_utt):
        for wk in range(5):
            words = ref[t].copy()
            words[rng.random(15) < 0.15] = rng.choice(vocab)
            texts.append(" ".join(words))
            XT.append((t, wk))
    XT = np.array(XT)
    rows.append(("ROVER", f"{len(texts):,} transcripts", _timed(lambda: ROVER().fit(XT, texts))))
    rows.append(("TextMedoid", f"{len(texts):,} transcripts",
                 _timed(lambda: TextMedoid().fit(XT, texts))))

    XC = np.column_stack([X, rng.integers(0, 3, len(X))])
    probas = rng.dirichlet(np.ones(3), n_tasks)
    rows.append(("worker_quality", f"{len(XC):,} answers",
                 _timed(lambda: worker_quality(XC, probas))))
    rows.append(("krippendorff_alpha", f"{len(XC):,} answers",
                 _timed(lambda: krippendorff_alpha(XC))))
    XF = np.column_stack([np.repeat(np.arange(n_tasks), per_task),
                          np.tile(np.arange(per_task), n_tasks), XC[:, 2]])
    rows.append(("fleiss_kappa", f"{len(XF):,} answers", _timed(lambda: fleiss_kappa(XF))))
    rows.append(("pairwise_cohen_kappa", f"{len(XC):,} answers, {n_workers} workers",
                 _timed(lambda: pairwise_cohen_kappa(XC))))

    print(f"| {'what':<22} | {'size':<28} | seconds |")
    print(f"|{'-' * 24}|{'-' * 30}|---------|")
    for name, size, sec in rows:
        print(f"| {name:<22} | {size:<28} | {sec:7.3f} |")


if __name__ == "__main__":
    main()
