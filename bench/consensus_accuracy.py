"""Accuracy of every registered aggregator vs crowd-kit 1.4.2 on the real crowd data sets.

    # from the repository's root
    .venv/bin/python bench/consensus_accuracy.py                  # both sides
    .venv/bin/python bench/consensus_accuracy.py --no-crowdkit    # ours only (seconds)

Data: ``../shared/data/crowd/<name>/{labels.csv,truth.csv}`` (override with ``--data``).
Accuracy = correct consensus labels / number of gold tasks (a gold task without answers
counts as wrong), for both sides.

Ours runs here (``.venv``); crowd-kit runs in its own virtualenv because crowd-kit 1.4.2's
Wawa and ZeroBasedSkill fail with scikit-learn >= 1.6::

    python3 -m venv .venv-crowdkit
    .venv-crowdkit/bin/pip install 'crowd-kit==1.4.2' 'scikit-learn<1.6'

and is called as a subprocess (``bench/crowdkit_runner.py accuracy``), so one run prints
both sides side by side plus the target checks: our ``auto`` mean accuracy above
crowd-kit DawidSkene's mean, and ``auto`` within 0.5 points of the best crowd-kit method
on every data set.  No hyperparameter is set per data set: every method uses its
defaults.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from consensus import AGGREGATORS, encode_answers  # noqa: E402

CK_METHODS = ["MajorityVote", "Wawa", "ZeroBasedSkill", "DawidSkene", "OneCoinDawidSkene",
              "GLAD", "MACE"]
CK_SHORT = {"MajorityVote": "MV", "Wawa": "Wawa", "ZeroBasedSkill": "ZBS", "DawidSkene": "DS",
            "OneCoinDawidSkene": "OneCoinDS", "GLAD": "GLAD", "MACE": "MACE"}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def load(folder):
    """``(EncodedAnswers, gold task codes, gold label codes)``; -1 for a gold class or task
    the crowd never used (it can then never be predicted and counts as wrong)."""
    rows = _rows(folder / "labels.csv")
    enc = encode_answers([r["task"] for r in rows], [r["worker"] for r in rows],
                         [r["label"] for r in rows])
    truth = _rows(folder / "truth.csv")
    task_code = {v: i for i, v in enumerate(enc.tasks.tolist())}
    class_code = {v: i for i, v in enumerate(enc.classes.tolist())}
    t = np.array([task_code.get(r["task"], -1) for r in truth])
    lab = np.array([class_code.get(r["label"], -1) for r in truth])
    return enc, t, lab


def accuracy(pred, t, lab):
    ok = (t >= 0) & (lab >= 0)
    return float(np.sum(pred[t[ok]] == lab[ok]) / len(t))


def run_ours(datasets):
    out = {}
    for folder in datasets:
        enc, t, lab = load(folder)
        res = {}
        for name, cls in AGGREGATORS.items():
            t0 = time.perf_counter()
            pred = cls().fit_predict(enc.X, n_classes=enc.n_classes)
            res[name] = {"accuracy": accuracy(pred, t, lab), "seconds": time.perf_counter() - t0}
        out[folder.name] = res
    return out


def run_crowdkit(python, data):
    proc = subprocess.run(
        [python, str(HERE / "crowdkit_runner.py"), "accuracy", "--data", str(data),
         "--methods", ",".join(CK_METHODS)],
        capture_output=True, text=True, cwd=REPO,
    )
    if proc.returncode != 0:
        raise SystemExit(f"crowd-kit runner failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cell(r):
    return f"{100 * r['accuracy']:.2f}" if r and "accuracy" in r else "err"


def main(argv=None):
    ap = argparse.ArgumentParser(description="consensus accuracy benchmark")
    ap.add_argument("--data", default=str((REPO / "../shared/data/crowd").resolve()))
    ap.add_argument("--crowdkit-python", default=str(REPO / ".venv-crowdkit/bin/python"))
    ap.add_argument("--no-crowdkit", action="store_true")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--crowdkit-json", help="reuse the crowd-kit side of an earlier --json "
                    "output instead of re-running it (crowd-kit's side takes ~10 min here)")
    args = ap.parse_args(argv)

    data = Path(args.data)
    datasets = sorted(p for p in data.iterdir() if (p / "labels.csv").exists())
    names = [p.name for p in datasets]
    ours = run_ours(datasets)
    if args.crowdkit_json:
        ck = json.loads(Path(args.crowdkit_json).read_text())["crowd-kit"]
    else:
        ck = {} if args.no_crowdkit else run_crowdkit(args.crowdkit_python, data)

    cols = [("ours", m) for m in AGGREGATORS] + [("crowd-kit", m) for m in CK_METHODS if ck]
    header = [m if side == "ours" else f"ck {CK_SHORT[m]}" for side, m in cols]
    print("| dataset | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(cols))
    table = {"ours": ours, "crowd-kit": ck}
    for n in names:
        print(f"| {n} | " + " | ".join(_cell(table[s][n].get(m)) for s, m in cols) + " |")

    def mean(side, m):
        vals = [table[side][n][m].get("accuracy") for n in names]
        return None if any(v is None for v in vals) else 100 * float(np.mean(vals))

    means = [mean(s, m) for s, m in cols]
    print("| **mean** | " + " | ".join("err" if v is None else f"**{v:.2f}**" for v in means)
          + " |")

    if ck:
        print()
        auto_mean, ds_mean = mean("ours", "auto"), mean("crowd-kit", "DawidSkene")
        print(f"target: auto mean {auto_mean:.2f} > crowd-kit DS mean {ds_mean:.2f} -> "
              f"{'MET' if auto_mean > ds_mean else 'MISSED'}")
        misses = []
        for n in names:
            best_m, best = max(((m, r["accuracy"]) for m, r in ck[n].items() if "accuracy" in r),
                               key=lambda x: x[1])
            a = ours[n]["auto"]["accuracy"]
            if 100 * (best - a) > 0.5:
                misses.append(f"{n} (auto {100 * a:.2f} vs ck {CK_SHORT[best_m]} {100 * best:.2f})")
        print("target: auto within 0.5 points of the best crowd-kit method on every data set -> "
              + ("MET" if not misses else "MISSED on " + ", ".join(misses)))
    if args.json:
        Path(args.json).write_text(json.dumps({"ours": ours, "crowd-kit": ck}, indent=1))


if __name__ == "__main__":
    main()
