"""crowd-kit side of the consensus benchmarks -- runs ONLY inside ``.venv-crowdkit``.

crowd-kit 1.4.2 conflicts with our environment (its Wawa and ZeroBasedSkill fail with
scikit-learn >= 1.6), so it lives in its own virtualenv::

    # from the repository's root
    python3 -m venv .venv-crowdkit
    .venv-crowdkit/bin/pip install 'crowd-kit==1.4.2' 'scikit-learn<1.6'

``bench/consensus_accuracy.py`` and ``bench/consensus_speed.py`` call this file as a
subprocess and read one JSON object from its stdout:

    .venv-crowdkit/bin/python bench/crowdkit_runner.py accuracy --data ../shared/data/crowd
    .venv-crowdkit/bin/python bench/crowdkit_runner.py speed --method DawidSkene --npz F.npz

It imports nothing of Fairlabel's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ACCURACY_METHODS = ["MajorityVote", "Wawa", "ZeroBasedSkill", "DawidSkene", "OneCoinDawidSkene",
                    "GLAD", "MACE"]


def _make(name):
    from crowdkit import aggregation

    # library defaults throughout (MACE's default random_state is already 0)
    return getattr(aggregation, name)()


def _fit_predict(name, df):
    model = _make(name)
    return model.fit_predict(df)


def accuracy(data_dir, methods):
    import pandas as pd

    out = {}
    for folder in sorted(p for p in Path(data_dir).iterdir() if (p / "labels.csv").exists()):
        labels = pd.read_csv(folder / "labels.csv", dtype=str)
        truth = pd.read_csv(folder / "truth.csv", dtype=str).set_index("task")["label"]
        res = {}
        for name in methods:
            t0 = time.perf_counter()
            try:
                pred = _fit_predict(name, labels)
                common = truth.index.intersection(pred.index)
                acc = float((pred.loc[common].astype(str) == truth.loc[common]).sum() / len(truth))
                res[name] = {"accuracy": acc, "seconds": time.perf_counter() - t0}
            except Exception as exc:  # report, do not hide, a crowd-kit failure
                res[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out[folder.name] = res
    return out


def speed(npz, name):
    import numpy as np
    import pandas as pd

    X = np.load(npz)["X"]
    df = pd.DataFrame({"task": X[:, 0], "worker": X[:, 1], "label": X[:, 2]})
    del X
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    _fit_predict(name, df)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_before_fit_mb": rss_before / 1024}


def main(argv=None):
    ap = argparse.ArgumentParser(description="crowd-kit side of the consensus benchmarks")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--data", required=True)
    a.add_argument("--methods", default=",".join(ACCURACY_METHODS))
    s = sub.add_parser("speed")
    s.add_argument("--npz", required=True)
    s.add_argument("--method", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "accuracy":
        result = accuracy(args.data, args.methods.split(","))
    else:
        result = speed(args.npz, args.method)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
