"""Speed and peak memory of our aggregators vs crowd-kit's, at 100k / 500k / 1M answers.

    # from the repository's root
    .venv/bin/python bench/consensus_speed.py                 # full run (long: crowd-kit)
    .venv/bin/python bench/consensus_speed.py --sizes 100000 --timeout 120

Answers come from ``bench/synthetic.py`` (seed 0, 5 answers per task, 4 classes, Zipf
activity) and are saved once per size to ``bench/out/`` (git-ignored).  Every fit runs in
its **own subprocess** so peak memory is per run: the child reports
``ru_maxrss`` of itself (``resource.getrusage(RUSAGE_SELF)``) after the fit, plus the
RSS before the fit (interpreter, libraries and the loaded answers), and the wall time of
``fit`` only.  Ours runs in ``.venv``; crowd-kit runs in ``.venv-crowdkit`` (see
``bench/crowdkit_runner.py`` for how to create it) on a pandas DataFrame of the same
codes.  crowd-kit runs get ``--timeout`` seconds (default 600) and are reported as
``> timeout``; a method that timed out is not retried at a larger size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OURS = ["majority_vote", "wawa", "dawid_skene", "one_coin_dawid_skene", "glad", "mace", "ibcc",
        "auto"]
CROWDKIT = ["MajorityVote", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE"]
PAIRS = {"MajorityVote": "majority_vote", "DawidSkene": "dawid_skene",
         "OneCoinDawidSkene": "one_coin_dawid_skene", "GLAD": "glad", "MACE": "mace"}


def child(npz, method):
    """Runs in a fresh interpreter: fit one of ours, print JSON timings."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from consensus import AGGREGATORS

    X = np.load(npz)["X"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    AGGREGATORS[method]().fit(X)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024,
                      "rss_before_fit_mb": rss_before / 1024}))


def _run(cmd, timeout):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(r):
    if r is None:
        return "skipped"
    if "timeout" in r:
        return f"> {r['timeout']:.0f} s"
    if "error" in r:
        return "error"
    return f"{r['seconds']:.2f} s / {r['peak_rss_mb']:.0f} MB"


def main(argv=None):
    ap = argparse.ArgumentParser(description="consensus speed benchmark")
    ap.add_argument("--sizes", default="100000,500000,1000000")
    ap.add_argument("--timeout", type=float, default=600.0, help="per crowd-kit run, seconds")
    ap.add_argument("--ours-timeout", type=float, default=1800.0)
    ap.add_argument("--crowdkit-python", default=str(REPO / ".venv-crowdkit/bin/python"))
    ap.add_argument("--no-crowdkit", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("NPZ", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*args.child)

    import numpy as np

    sys.path.insert(0, str(HERE))
    from synthetic import generate

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    use_ck = not args.no_crowdkit and Path(args.crowdkit_python).exists()
    results, timed_out = {}, set()
    for size in sizes:
        npz = out_dir / f"synthetic_{size}.npz"
        X, _ = generate(n_answers=size, seed=0)
        np.savez(npz, X=X)
        print(f"# {size} requested answers -> {len(X)} answers", flush=True)
        for m in OURS:
            r = _run([sys.executable, str(Path(__file__).resolve()), "--child", str(npz), m], args.ours_timeout)
            results[(size, "ours", m)] = r
            print(f"  ours      {m:22s} {_fmt(r)}", flush=True)
        for m in CROWDKIT if use_ck else []:
            if m in timed_out:
                results[(size, "crowd-kit", m)] = None
                continue
            r = _run([args.crowdkit_python, str(HERE / "crowdkit_runner.py"), "speed", "--npz",
                      str(npz), "--method", m], args.timeout)
            results[(size, "crowd-kit", m)] = r
            if r and "timeout" in r:
                timed_out.add(m)
            print(f"  crowd-kit {m:22s} {_fmt(r)}", flush=True)

    print()
    print("| method | " + " | ".join(f"{s:,} answers" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for m in OURS:
        print(f"| ours {m} | " + " | ".join(_fmt(results[(s, 'ours', m)]) for s in sizes) + " |")
    for m in CROWDKIT if use_ck else []:
        print(f"| crowd-kit {m} | "
              + " | ".join(_fmt(results.get((s, 'crowd-kit', m))) for s in sizes) + " |")

    big = max(sizes)
    print()
    ours_ds = results.get((big, "ours", "dawid_skene"))
    ck_ds = results.get((big, "crowd-kit", "DawidSkene"))
    if ours_ds and "seconds" in ours_ds and ck_ds is not None:
        if "seconds" in ck_ds:
            ratio = ck_ds["seconds"] / ours_ds["seconds"]
            mem_ok = ours_ds["peak_rss_mb"] < ck_ds["peak_rss_mb"]
            print(f"target DS >= 10x faster than crowd-kit at {big:,}: {ratio:.1f}x -> "
                  f"{'MET' if ratio >= 10 else 'MISSED'}; lower peak memory: "
                  f"{'MET' if mem_ok else 'MISSED'}")
        elif "timeout" in ck_ds:
            print(f"target DS >= 10x faster: crowd-kit DS exceeded {ck_ds['timeout']:.0f} s, "
                  f"ours {ours_ds['seconds']:.1f} s -> MET")
    for m in ("glad", "mace"):
        r = results.get((big, "ours", m))
        if r and "seconds" in r:
            print(f"target {m} < 60 s at {big:,}: {r['seconds']:.1f} s -> "
                  f"{'MET' if r['seconds'] < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
