"""Training recipes across budgets and seeds: the sweep behind the default recipe.

    CNNVIZ_DATA=/path/to/mnist python benchmarks/recipes.py \\
        [--recipe default "adam-3e-3=--optimizer adam --lr 3e-3" ...] \\
        [--budget short e1 e2 ...] [--seeds 0 1 2] [--jobs 2] [--json FILE]
        [--flags "--dataset fashion-mnist"]

A recipe is a name (then the CLI's defaults) or NAME=FLAGS, flags of `python -m cnnviz train`.
A budget is one of BUDGETS (more train flags: run length, data size). Every (budget, recipe,
seed) runs `python -m cnnviz train --json` (plus --flags) in its own process (with --jobs N,
N at a time, each on one BLAS thread) and the table gives, per budget and recipe, the mean
test accuracy over the seeds with the lowest and highest, the mean wall time of a run, its
peak memory and, for the budgets in BARS, whether every seed reached the bar (meant for the
default recipe on MNIST).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

BUDGETS = {
    "short": "--limit-train 3000 --limit-test 1000 --epochs 1",
    "small": "--limit-train 10000 --epochs 1",
    "e1": "--epochs 1",
    "e2": "--epochs 2",
    "e5": "--epochs 5",
    "lenet5-e2": "--arch lenet5 --epochs 2",
}
# What the default recipe must reach on MNIST with each budget (every seed), and the peak
# memory of a run.
BARS = {"short": 0.90, "e1": 0.989, "e2": 0.9925, "e5": 0.9945, "lenet5-e2": 0.990}
PEAK_MB = 1536


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """"name" -> (name, []); "name=--flag value ..." -> (name, [flags])."""
    name, _, flags = text.partition("=")
    return name, shlex.split(flags)


def run(budget: str, flags: list[str], seed: int, threads: int | None) -> dict:
    """One training run's JSON summary, with "error" instead when it failed."""
    cmd = [sys.executable, "-m", "cnnviz", "train", "--json", "--seed", str(seed),
           *shlex.split(BUDGETS[budget]), *flags]
    env = dict(os.environ)
    if threads:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", nargs="+", default=["default"])
    ap.add_argument("--budget", nargs="+", default=["short", "e1"], choices=list(BUDGETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (each on 1 thread)")
    ap.add_argument("--json", metavar="FILE", help="write every run's summary here")
    ap.add_argument("--flags", default="", help="train flags added to every run")
    args = ap.parse_args(argv)
    recipes = [(name, [*flags, *shlex.split(args.flags)])
               for name, flags in map(parse_recipe, args.recipe)]
    tasks = [(b, name, flags, s) for b in args.budget for name, flags in recipes
             for s in args.seeds]
    threads = 1 if args.jobs > 1 else None

    def one(task):
        budget, name, flags, seed = task
        result = run(budget, flags, seed, threads)
        acc = result.get("test_accuracy")
        print(f"  {budget} {name} seed {seed}: "
              + (f"{acc:.2%} in {result['seconds']:.0f} s" if acc is not None
                 else result["error"]), file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, tasks))
    print(f"{'budget':<10}{'recipe':<22}{'mean':>8}{'min':>8}{'max':>8}{'s/run':>7}"
          f"{'peak MB':>9}{'bar':>8}  seeds")
    rows = {}
    for (budget, name, _, seed), r in zip(tasks, results, strict=True):
        rows.setdefault((budget, name), []).append((seed, r))
    for (budget, name), runs in rows.items():
        accs = [r["test_accuracy"] for _, r in runs if "test_accuracy" in r]
        secs = [r["seconds"] for _, r in runs if "seconds" in r]
        peak = max((r.get("peak_memory_mb", 0.0) for _, r in runs), default=0.0)
        if not accs:
            print(f"{budget:<10}{name:<22}  failed: {runs[0][1].get('error')}")
            continue
        bar = BARS.get(budget)
        met = "" if bar is None else ("ok " if min(accs) >= bar and peak < PEAK_MB else "no ")
        print(f"{budget:<10}{name:<22}{statistics.mean(accs):>8.2%}{min(accs):>8.2%}"
              f"{max(accs):>8.2%}{statistics.mean(secs):>7.0f}{peak:>9.0f}"
              f"{met + (f'{bar:.2%}' if bar else '-'):>8}  " + " ".join(str(s) for s, _ in runs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"budget": b, "recipe": n, "flags": fl, "seed": s, **r}
                       for (b, n, fl, s), r in zip(tasks, results, strict=True)], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
