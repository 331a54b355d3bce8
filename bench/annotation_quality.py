"""Aggregation quality per annotation type on simulated crowds with known truth; prints a table.

For every annotation type the platform decides by consensus (rectangles, polygons,
keypoints, text spans, audio segments, transcripts, numbers, ratings) a seeded crowd
answers items whose truth is known, at 3 and at 5 answers per item. Each row compares,
against the truth:

* one annotator: for each item one of its answers picked at random (a spammer as often
  as spammers answer), i.e. what a job with one answer per item would get;
* one non-spammer: the same, among the item's answers from non-spammers — a job that
  could keep spammers out perfectly and paid for one answer per item;
* consensus: the consensus module with equal worker weights;
* weighted: a second pass where each worker is weighted by their mean score against the
  first-pass consensus (F1, 1 - WER clipped at 0, inlier share), as the platform does.
  The weights are estimated on the same items they are then used on (in-sample).

Mean IoU (and keypoint distance) is over the matched pairs only, so it says how well the
objects that were found are drawn; object F1 says whether they were found at all.

The crowd: 60 workers, 12 of them (20 %) spammers who draw, mark, type or rate at
random; the others each have their own noise scale (U(0.5, 2)), miss rate (U(0, 0.25))
and rate of extra objects, so some are much better than others.

Run: .venv/bin/python bench/annotation_quality.py [--seed 0] [--items 300]
"""

from __future__ import annotations

import argparse
import string
import time
from dataclasses import dataclass

import numpy as np

from consensus.boxes import BoxFusion, box_iou
from consensus.keypoints import KeypointFusion
from consensus.matching import match_regions
from consensus.numeric import WeightedMedian
from consensus.polygons import PolygonFusion, polygon_iou
from consensus.segments import SegmentVote
from consensus.spans import SpanVote, span_f1
from consensus.transcripts import ROVER, TextMedoid, word_error_rate

N_WORKERS = 60
SPAMMER_SHARE = 0.2


@dataclass
class Crowd:
    """Per-worker traits; ``spammer`` workers answer at random."""

    spammer: np.ndarray
    noise: np.ndarray
    miss: np.ndarray
    extra: np.ndarray
    wrong_label: np.ndarray

    @classmethod
    def draw(cls, rng) -> Crowd:
        spammer = np.zeros(N_WORKERS, dtype=bool)
        spammer[rng.choice(N_WORKERS, int(SPAMMER_SHARE * N_WORKERS), replace=False)] = True
        return cls(spammer, rng.uniform(0.5, 2.0, N_WORKERS), rng.uniform(0.0, 0.25, N_WORKERS),
                   rng.uniform(0.0, 0.3, N_WORKERS), rng.uniform(0.0, 0.1, N_WORKERS))


def assign(rng, n_items: int, per_item: int) -> list[np.ndarray]:
    """``per_item`` distinct workers for each item."""
    return [rng.choice(N_WORKERS, per_item, replace=False) for _ in range(n_items)]


def pick(rng, crowd, answers: list[list], workers: list) -> tuple[list, list]:
    """Per item, one answer at random, and one at random among the item's non-spammers.

    ``answers[i][j]`` is the answer of worker ``workers[i][j]``. An item that only
    spammers answered (0.8 % of items at 3 answers) keeps a spammer's in both.
    """
    one, careful = [], []
    for ans, wks in zip(answers, workers):
        one.append(ans[rng.integers(len(ans))])
        good = [a for a, wk in zip(ans, wks) if not crowd.spammer[wk]] or ans
        careful.append(good[rng.integers(len(good))])
    return one, careful


# --------------------------------------------------------------------------- image regions

def _label(rng, crowd, wk, true_label, n_labels):
    if rng.random() < crowd.wrong_label[wk]:
        return int((true_label + rng.integers(1, n_labels)) % n_labels)
    return int(true_label)


def random_box(rng):
    w, h = rng.uniform(8, 25, 2)
    return [rng.uniform(0, 100 - w), rng.uniform(0, 100 - h), w, h]


def draw_boxes(rng, crowd, workers, truth, n_labels=3):
    """Answers of ``workers`` to one image: list of (worker, [x, y, w, h], label) per worker."""
    out = []
    for wk in workers:
        if crowd.spammer[wk]:
            regions = [(random_box(rng), int(rng.integers(n_labels)))
                       for _ in range(rng.integers(1, 5))]
        else:
            regions = []
            for (x, y, w, h), lab in truth:
                if rng.random() < crowd.miss[wk]:
                    continue
                sd = 0.04 * crowd.noise[wk] * np.array([w, h, w, h])
                x1, y1, x2, y2 = np.array([x, y, x + w, y + h]) + rng.normal(0, 1, 4) * sd
                x1, x2 = sorted((x1, x2))
                y1, y2 = sorted((y1, y2))
                regions.append(([x1, y1, x2 - x1, y2 - y1], _label(rng, crowd, wk, lab, n_labels)))
            regions += [(random_box(rng), int(rng.integers(n_labels)))
                        for _ in range(rng.poisson(crowd.extra[wk]))]
        out.append((wk, regions))
    return out


def star(rng, centre, radius, k):
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = radius * rng.uniform(0.6, 1.0, k)
    return np.column_stack([centre[0] + r * np.cos(angles), centre[1] + r * np.sin(angles)])


def random_polygon(rng):
    return star(rng, rng.uniform(15, 85, 2), rng.uniform(6, 15), int(rng.integers(5, 9)))


def draw_polygons(rng, crowd, workers, truth, n_labels=3):
    out = []
    for wk in workers:
        if crowd.spammer[wk]:
            regions = [(random_polygon(rng), int(rng.integers(n_labels)))
                       for _ in range(rng.integers(1, 4))]
        else:
            regions = []
            for poly, lab in truth:
                if rng.random() < crowd.miss[wk]:
                    continue
                radius = np.linalg.norm(poly - poly.mean(axis=0), axis=1).mean()
                jitter = rng.normal(0, 0.06 * crowd.noise[wk] * radius, poly.shape)
                regions.append((poly + jitter, _label(rng, crowd, wk, lab, n_labels)))
            regions += [(random_polygon(rng), int(rng.integers(n_labels)))
                        for _ in range(rng.poisson(crowd.extra[wk]))]
        out.append((wk, regions))
    return out


def draw_points(rng, crowd, workers, truth, n_labels=4):
    out = []
    for wk in workers:
        if crowd.spammer[wk]:
            regions = [(rng.uniform(0, 100, 2), int(rng.integers(n_labels)))
                       for _ in range(rng.integers(1, 6))]
        else:
            regions = [(p + rng.normal(0, 1.2 * crowd.noise[wk], 2),
                        _label(rng, crowd, wk, lab, n_labels))
                       for p, lab in truth if rng.random() >= crowd.miss[wk]]
            regions += [(rng.uniform(0, 100, 2), int(rng.integers(n_labels)))
                        for _ in range(rng.poisson(crowd.extra[wk]))]
        out.append((wk, regions))
    return out


def regions_table(answers):
    """Flatten ``[(item, [(worker, [(geometry, label), ...]), ...]), ...]`` into codes + geometry."""
    X, geometry = [], []
    for item, per_worker in answers:
        for wk, regions in per_worker:
            if not regions:
                X.append((item, wk, -1))
                geometry.append(None)
            for geom, lab in regions:
                X.append((item, wk, lab))
                geometry.append(geom)
    return np.array(X, dtype=np.int64), geometry


KIND = {"boxes": "rectangles", "polygons": "polygons", "points": "keypoints"}


def as_dicts(kind, regions):
    if kind == "boxes":
        return [{"x": g[0], "y": g[1], "width": g[2], "height": g[3], "label": lab}
                for g, lab in regions]
    if kind == "polygons":
        return [{"points": np.asarray(g).tolist(), "label": lab} for g, lab in regions]
    return [{"x": g[0], "y": g[1], "label": lab} for g, lab in regions]


def fuse_regions(kind, answers, n_items, weights):
    """Consensus regions per item: ``[[(geometry, label), ...] per item]``."""
    X, geometry = regions_table(answers)
    if kind == "boxes":
        B = np.array([g if g is not None else [0, 0, 0, 0] for g in geometry], dtype=float)
        f = BoxFusion().fit(X, B, weights=weights)
        shapes = f.boxes_
    elif kind == "polygons":
        f = PolygonFusion().fit(X, geometry, weights=weights)
        shapes = f.polygons_
    else:
        P = np.array([g if g is not None else [0, 0] for g in geometry], dtype=float)
        f = KeypointFusion(distance=5.0).fit(X, P, weights=weights)
        shapes = f.points_
    out = [[] for _ in range(n_items)]
    for t, geom, lab in zip(f.tasks_, shapes, f.labels_):
        out[t].append((geom, int(lab)))
    return out


def region_quality(kind, preds, truths):
    """(object F1, mean IoU of matched pairs) or, for points, (F1, mean distance of matched)."""
    threshold = 5.0 if kind == "points" else 0.5
    f1s, closeness = [], []
    for pred, truth in zip(preds, truths):
        r = match_regions(KIND[kind], as_dicts(kind, pred), as_dicts(kind, truth),
                          threshold=threshold)
        f1s.append(r.f1)
        for i, j in r.matched:
            a, b = pred[i][0], truth[j][0]
            if kind == "boxes":
                closeness.append(box_iou([a], [b]).item())
            elif kind == "polygons":
                closeness.append(polygon_iou(a, b))
            else:
                closeness.append(float(np.linalg.norm(np.asarray(a) - b)))
    return float(np.mean(f1s)), float(np.mean(closeness)) if closeness else float("nan")


def region_weights(kind, answers, consensus):
    """Each worker's mean F1 against the consensus over the items they answered."""
    threshold = 5.0 if kind == "points" else 0.5
    total, count = np.zeros(N_WORKERS), np.zeros(N_WORKERS)
    for item, per_worker in answers:
        ref = as_dicts(kind, consensus[item])
        for wk, regions in per_worker:
            total[wk] += match_regions(KIND[kind], as_dicts(kind, regions), ref,
                                       threshold=threshold).f1
            count[wk] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def run_regions(kind, rng, n_items, per_item):
    crowd = Crowd.draw(rng)
    truths = []
    for _ in range(n_items):
        n_obj, labels = int(rng.integers(1, 5)), rng.integers(0, 3 if kind != "points" else 4, 4)
        if kind == "boxes":
            truths.append([(random_box(rng), int(labels[o])) for o in range(n_obj)])
        elif kind == "polygons":
            truths.append([(random_polygon(rng), int(labels[o])) for o in range(n_obj)])
        else:
            n_obj = int(rng.integers(2, 7))
            truths.append([(rng.uniform(5, 95, 2), int(rng.integers(4))) for _ in range(n_obj)])
    draw = {"boxes": draw_boxes, "polygons": draw_polygons, "points": draw_points}[kind]
    answers = [(i, draw(rng, crowd, ws, truths[i]))
               for i, ws in enumerate(assign(rng, n_items, per_item))]
    one, careful = pick(rng, crowd, [[r for _, r in pw] for _, pw in answers],
                        [[wk for wk, _ in pw] for _, pw in answers])
    first = fuse_regions(kind, answers, n_items, None)
    second = fuse_regions(kind, answers, n_items, region_weights(kind, answers, first))
    return [region_quality(kind, preds, truths) for preds in (one, careful, first, second)]


# --------------------------------------------------------------------------- text spans

def _layout(rng, length, n, min_len, max_len, gap):
    """``n`` non-overlapping ``[start, end)`` intervals in ``[0, length)`` with gaps >= ``gap``."""
    max_len = max(min_len, min(max_len, 0.7 * (length - gap * (n + 1)) / n))
    sizes = rng.uniform(min_len, max_len, n)
    slack = length - sizes.sum() - gap * (n + 1)
    cuts = np.sort(rng.uniform(0, slack, n))
    starts = gap * np.arange(1, n + 1) + cuts + np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return np.column_stack([starts, starts + sizes])


def run_spans(rng, n_items, per_item, length=300, n_labels=4):
    crowd = Crowd.draw(rng)
    truths = []
    for _ in range(n_items):
        iv = np.round(_layout(rng, length, int(rng.integers(1, 6)), 3, 20, 3)).astype(int)
        truths.append([(int(s), int(e), int(rng.integers(n_labels))) for s, e in iv])
    rows, offsets, per_item_answers, per_item_workers = [], [], [], []
    for item, workers in enumerate(assign(rng, n_items, per_item)):
        per_item_workers.append(workers)
        answered = []
        for wk in workers:
            if crowd.spammer[wk]:
                spans = [(int(s), int(s + ln), int(rng.integers(n_labels)))
                         for s, ln in zip(rng.integers(0, length - 20, rng.integers(1, 5)),
                                          rng.integers(3, 20, 4))]
            else:
                spans = []
                for s, e, lab in truths[item]:
                    if rng.random() < crowd.miss[wk]:
                        continue
                    shift = (rng.random(2) < 0.25 * crowd.noise[wk]) * rng.choice([-2, -1, 1, 2], 2)
                    s2, e2 = int(np.clip(s + shift[0], 0, length - 1)), int(np.clip(e + shift[1], 1, length))
                    if e2 <= s2:
                        s2, e2 = s, e
                    spans.append((s2, e2, _label(rng, crowd, wk, lab, n_labels)))
                for _ in range(rng.poisson(crowd.extra[wk])):
                    s = int(rng.integers(0, length - 20))
                    spans.append((s, s + int(rng.integers(3, 20)), int(rng.integers(n_labels))))
            answered.append(spans)
            for s, e, lab in spans or [(0, 0, -1)]:
                rows.append((item, wk, lab))
                offsets.append((s, e))
        per_item_answers.append(answered)
    X, S = np.array(rows), np.array(offsets)
    lengths = np.full(n_items, length)

    def consensus(weights):
        v = SpanVote().fit(X, S, text_lengths=lengths, weights=weights, n_classes=n_labels)
        out = [[] for _ in range(n_items)]
        for t, (s, e, lab) in zip(v.tasks_, v.spans_.tolist()):
            out[t].append((s, e, lab))
        return out, v

    def quality(preds):
        return (float(np.mean([span_f1(p, t) for p, t in zip(preds, truths)])),)

    one, careful = pick(rng, crowd, per_item_answers, per_item_workers)
    first, v = consensus(None)
    second, _ = consensus(np.nan_to_num(v.worker_f1_))
    return [quality(p) for p in (one, careful, first, second)]


# --------------------------------------------------------------------------- audio segments

def run_segments(rng, n_items, per_item, n_labels=3):
    crowd = Crowd.draw(rng)
    durations = rng.uniform(10, 30, n_items)
    truths = [[(float(s), float(e), int(rng.integers(n_labels)))
               for s, e in _layout(rng, d, int(rng.integers(1, 5)), 0.5, 4.0, 0.3)]
              for d in durations]
    rows, times, per_item_answers, per_item_workers = [], [], [], []
    for item, workers in enumerate(assign(rng, n_items, per_item)):
        per_item_workers.append(workers)
        d, answered = durations[item], []
        for wk in workers:
            if crowd.spammer[wk]:
                starts = rng.uniform(0, d - 4, rng.integers(1, 5))
                segs = [(s, s + rng.uniform(0.5, 4), int(rng.integers(n_labels))) for s in starts]
            else:
                segs = []
                for s, e, lab in truths[item]:
                    if rng.random() < crowd.miss[wk]:
                        continue
                    s2, e2 = np.clip(np.array([s, e]) + rng.normal(0, 0.12 * crowd.noise[wk], 2), 0, d)
                    if e2 - s2 < 0.05:
                        s2, e2 = s, e
                    segs.append((float(s2), float(e2), _label(rng, crowd, wk, lab, n_labels)))
                for _ in range(rng.poisson(crowd.extra[wk])):
                    s = rng.uniform(0, d - 4)
                    segs.append((s, s + rng.uniform(0.5, 4), int(rng.integers(n_labels))))
            answered.append(segs)
            for s, e, lab in segs or [(0.0, 0.0, -1)]:
                rows.append((item, wk, lab))
                times.append((s, e))
        per_item_answers.append(answered)
    X, T = np.array(rows), np.array(times)

    def consensus(weights):
        v = SegmentVote().fit(X, T, durations=durations, weights=weights, n_classes=n_labels)
        out = [[] for _ in range(n_items)]
        for t, (s, e), lab in zip(v.tasks_, v.segments_.tolist(), v.labels_):
            out[t].append((s, e, int(lab)))
        return out, v

    def quality(preds):
        f1s = []
        for pred, truth in zip(preds, truths):
            as_d = [[{"start": s, "end": e, "label": lab} for s, e, lab in segs]
                    for segs in (pred, truth)]
            f1s.append(match_regions("segments", *as_d, threshold=0.5).f1)
        return (float(np.mean(f1s)),)

    one, careful = pick(rng, crowd, per_item_answers, per_item_workers)
    first, v = consensus(None)
    second, _ = consensus(np.nan_to_num(v.worker_f1_))
    return [quality(p) for p in (one, careful, first, second)]


# --------------------------------------------------------------------------- transcripts

def run_transcripts(rng, n_items, per_item):
    crowd = Crowd.draw(rng)
    vocab = np.array([f"w{i}" for i in range(500)])
    zipf = 1.0 / np.arange(1, 501)
    zipf /= zipf.sum()
    truths = [list(rng.choice(vocab, int(rng.integers(6, 21)), p=zipf)) for _ in range(n_items)]

    def junk():
        return "".join(rng.choice(list(string.ascii_lowercase), int(rng.integers(2, 8))))

    rows, texts, per_item_answers, per_item_workers = [], [], [], []
    for item, workers in enumerate(assign(rng, n_items, per_item)):
        per_item_workers.append(workers)
        answered = []
        for wk in workers:
            if crowd.spammer[wk]:
                words = [junk() for _ in range(rng.integers(3, 16))]
            else:
                q, words = crowd.noise[wk], []
                for word in truths[item]:
                    u = rng.random()
                    if u < 0.03 * q:
                        continue  # deletion
                    words.append(str(rng.choice(vocab, p=zipf)) if u < 0.09 * q else word)
                    if rng.random() < 0.03 * q:
                        words.append(str(rng.choice(vocab, p=zipf)))  # insertion
            answered.append(" ".join(words))
            rows.append((item, wk))
            texts.append(" ".join(words))
        per_item_answers.append(answered)
    X = np.array(rows)
    one, careful = pick(rng, crowd, per_item_answers, per_item_workers)

    def wer(preds):
        return float(np.mean([word_error_rate(p, t) for p, t in zip(preds, truths)]))

    results = {}
    for name, model in (("ROVER", ROVER), ("TextMedoid", TextMedoid)):
        first = model().fit(X, texts, n_tasks=n_items).texts_
        score, count = np.zeros(N_WORKERS), np.zeros(N_WORKERS)
        for (item, wk), text in zip(X.tolist(), texts):
            ref = first[item]
            score[wk] += max(0.0, 1.0 - word_error_rate(text, ref)) if ref.split() else 0.0
            count[wk] += 1
        weights = np.where(count > 0, score / np.maximum(count, 1), 0.0)
        second = model().fit(X, texts, weights=weights, n_tasks=n_items).texts_
        results[name] = [(wer(p),) for p in (one, careful, first, second)]
    return results


# --------------------------------------------------------------------------- numbers, ratings

def run_scalars(rng, n_items, per_item, *, rating: bool):
    crowd = Crowd.draw(rng)
    truth = rng.integers(1, 6, n_items).astype(float) if rating else rng.uniform(0, 100, n_items)
    rows, values = [], []
    for item, workers in enumerate(assign(rng, n_items, per_item)):
        for wk in workers:
            if crowd.spammer[wk] or rng.random() < 0.05:  # spammer, or a gross error
                v = float(rng.integers(1, 6)) if rating else rng.uniform(0, 100)
            elif rating:
                v = float(np.clip(np.rint(truth[item] + rng.normal(0, 0.5 * crowd.noise[wk])), 1, 5))
            else:
                v = truth[item] + rng.normal(0, 1.5 * crowd.noise[wk])
            rows.append((item, wk))
            values.append(v)
    X, V = np.array(rows), np.array(values)
    rows_of = np.arange(n_items * per_item).reshape(n_items, per_item)
    picks, careful = pick(rng, crowd, rows_of.tolist(), X[:, 1].reshape(n_items, per_item).tolist())
    first = WeightedMedian().fit(X, V, n_tasks=n_items)
    inlier = np.bincount(X[:, 1], weights=~first.outliers_, minlength=N_WORKERS)
    count = np.bincount(X[:, 1], minlength=N_WORKERS)
    weights = np.where(count > 0, inlier / np.maximum(count, 1), 0.0)
    second = WeightedMedian().fit(X, V, weights=weights, n_tasks=n_items)
    return [(float(np.mean(np.abs(est - truth))),)
            for est in (V[picks], V[careful], first.values_, second.values_)]


# --------------------------------------------------------------------------- table

def main(seed: int = 0, n_items: int = 300) -> None:
    started = time.perf_counter()
    results: dict[tuple[str, str], dict[int, list]] = {}

    def rng_for(kind: int, per_item: int):
        return np.random.default_rng([seed, kind, per_item])

    for per_item in (3, 5):
        for k, (kind, name) in enumerate([("boxes", "rectangles"), ("polygons", "polygons"),
                                          ("points", "keypoints")]):
            res = run_regions(kind, rng_for(k, per_item), n_items, per_item)
            if kind == "points":
                metrics = ("F1 within 5 %", "mean distance of matched points (%)")
            else:
                metrics = ("object F1 at IoU 0.5", "mean IoU of matched objects")
            for m, metric in enumerate(metrics):
                results.setdefault((name, metric), {})[per_item] = [r[m] for r in res]
        res = run_spans(rng_for(3, per_item), n_items, per_item)
        results.setdefault(("text spans", "exact span F1"), {})[per_item] = [r[0] for r in res]
        res = run_segments(rng_for(4, per_item), n_items, per_item)
        results.setdefault(("audio segments", "segment F1 at IoU 0.5"), {})[per_item] = \
            [r[0] for r in res]
        for name, res in run_transcripts(rng_for(5, per_item), n_items, per_item).items():
            results.setdefault((f"transcripts, {name}", "WER"), {})[per_item] = [r[0] for r in res]
        res = run_scalars(rng_for(6, per_item), n_items, per_item, rating=False)
        results.setdefault(("numbers (0-100)", "mean absolute error"), {})[per_item] = \
            [r[0] for r in res]
        res = run_scalars(rng_for(7, per_item), n_items, per_item, rating=True)
        results.setdefault(("ratings (1-5)", "mean absolute error"), {})[per_item] = \
            [r[0] for r in res]

    print(f"seed {seed}, {n_items} items per type and per answers-per-item, {N_WORKERS} workers"
          f" ({SPAMMER_SHARE:.0%} spammers)\n")
    print("| type | metric | 3 answers: one annotator | one non-spammer | consensus | weighted "
          "| 5 answers: one annotator | one non-spammer | consensus | weighted |")
    print("|---|---|" + "---:|" * 8)
    for (name, metric), by_r in results.items():
        cells = [f"{v:.3f}" for r in (3, 5) for v in by_r[r]]
        print(f"| {name} | {metric} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--items", type=int, default=300, help="items per type (default 300)")
    args = ap.parse_args()
    main(args.seed, args.items)
