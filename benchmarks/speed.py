"""Speed of cnnviz against PyTorch CPU on the same architectures and machine, whole steps and
per layer, for training and for evaluation.

    python benchmarks/speed.py [--steps 200] [--repeat 5] [--batch-size 64]
        [--eval-batch-size 256] [--arch cnn-bn lenet5] [--mode train eval]
        [--torch-python /path/to/python-with-torch] [--json results.json] [--gpu]

For each architecture and mode, runs `python -m cnnviz bench` (with --eval for evaluation)
and benchmarks/torch_reference.py (PyTorch, 2 threads, the same layers and optimizer) one
after the other, --repeat times, each in its own process. PyTorch is used when torch imports
in this Python or --torch-python names one that has it; without it only cnnviz is timed.

Prints, per architecture and mode, the median over the runs of each layer's forward (and
backward) milliseconds for both (cnnviz: its own per-layer timers; PyTorch: torch.profiler's
CPU time per layer), the whole step's milliseconds and what is outside the layers (loss,
optimizer, batching), and the images/s of both with their ratio (cnnviz / PyTorch: the median
of the ratios of runs done side by side). A last table sums it up, one row per architecture
and mode. --json writes every run's raw numbers and the medians to a file.

--gpu times cnnviz on cupy against PyTorch CUDA instead, whole steps only: per-layer times of
asynchronous GPU work are launch times, so no layer tables are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = {"train": "training", "eval": "evaluation"}


def run_json(cmd: list[str]) -> list[dict]:
    """The JSON lines a command prints; exits with its stderr when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def rest_ms(run: dict) -> float:
    """The part of a run's step (or eval batch) outside its layers: ms_per_step minus the
    layers' forward and backward times (loss, optimizer, batching, profiling differences)."""
    layers = run.get("layers", {})
    return run["ms_per_step"] - sum(t.get("forward_ms", 0.0) + (t.get("backward_ms") or 0.0)
                                    for t in layers.values())


def summarize(runs: list[dict]) -> dict | None:
    """Medians over runs of one benchmark (same arch, mode, framework): images_per_second,
    ms_per_step, rest_ms and each layer's forward_ms / backward_ms; peak_memory_mb is the
    largest. None for no runs."""
    if not runs:
        return None
    med = statistics.median
    out = {"runs": len(runs),
           "images_per_second": med(r["images_per_second"] for r in runs),
           "ms_per_step": med(r["ms_per_step"] for r in runs),
           "rest_ms": med(rest_ms(r) for r in runs),
           "peak_memory_mb": max((r.get("peak_memory_mb", 0.0) for r in runs), default=0.0),
           "layers": {}}
    for name in runs[0].get("layers", {}):
        row = {}
        for key in ("forward_ms", "backward_ms"):
            values = [r["layers"][name][key] for r in runs
                      if r["layers"].get(name, {}).get(key) is not None]
            if values:
                row[key] = med(values)
        algos = {r["layers"][name].get("algorithm") for r in runs} - {None}
        if algos:
            row["algorithm"] = "/".join(sorted(algos))
        out["layers"][name] = row
    return out


def paired_ratio(ours: list[dict], theirs: list[dict]) -> float | None:
    """Median over the runs done side by side of cnnviz images/s / PyTorch images/s."""
    ratios = [a["images_per_second"] / b["images_per_second"]
              for a, b in zip(ours, theirs) if b["images_per_second"] > 0]
    return statistics.median(ratios) if ratios else None


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def layer_table(ours: dict, theirs: dict | None, mode: str) -> list[str]:
    """Lines of the per-layer table of two summaries (theirs None: cnnviz's columns only).
    The ratio column is PyTorch ms / cnnviz ms for the layer (forward + backward), read as
    the images/s ratio: above 1, cnnviz is faster."""
    keys = ["forward_ms"] + (["backward_ms"] if mode == "train" else [])
    sides = ["cnnviz"] + (["torch"] if theirs else [])
    cols = [f"{side} {key[:3].replace('for', 'fwd').replace('bac', 'bwd')}"
            for key in keys for side in sides]
    algo = any("algorithm" in t for t in ours["layers"].values())
    lines = [f"{'layer (ms)':<16}" + "".join(f"{c:>12}" for c in cols)
             + (f"{'ratio':>8}" if theirs else "") + ("  cnnviz algorithm" if algo else "")]
    for name, t in ours["layers"].items():
        p = theirs["layers"].get(name, {}) if theirs else None
        cells = [side.get(key) for key in keys for side in ([t, p] if theirs else [t])]
        line = f"{name:<16}" + "".join(f"{_ms(c):>12}" for c in cells)
        if theirs:
            mine = sum(t.get(k) or 0.0 for k in keys)
            other = sum(p.get(k) or 0.0 for k in keys)
            line += f"{f'{other / mine:.2f}' if p and mine > 0 else '-':>8}"
        lines.append(line + (f"  {t['algorithm']}" if "algorithm" in t else ""))
    return lines


def report(arch: str, mode: str, batch: int, ours: list[dict], theirs: list[dict],
           tables: bool = True) -> list[str]:
    """The block of lines for one architecture and mode (`tables`: with the per-layer one)."""
    a, b = summarize(ours), summarize(theirs)
    unit = "step" if mode == "train" else "batch"
    runs = f"medians of {len(ours)} runs" if len(ours) > 1 else "1 run"
    lines = [f"{arch}, {MODES[mode]}, batch {batch} ({runs})"]
    lines += layer_table(a, b, mode) if tables else []

    def whole(s):
        return (f"{s['ms_per_step']:.2f} ms (layers {s['ms_per_step'] - s['rest_ms']:.2f}, "
                f"rest {s['rest_ms']:.2f})")

    lines.append(f"whole {unit}: cnnviz {whole(a)}" + (f"; torch {whole(b)}" if b else ""))
    ratio = paired_ratio(ours, theirs)
    lines.append(f"images/s: cnnviz {a['images_per_second']:.0f}"
                 + (f", torch {b['images_per_second']:.0f}, ratio {ratio:.2f}" if b else ""))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps (batches) per run")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64, help="training batch size")
    ap.add_argument("--eval-batch-size", type=int, default=256)
    ap.add_argument("--arch", nargs="+", default=["cnn-bn", "lenet5"])
    ap.add_argument("--mode", nargs="+", choices=list(MODES), default=list(MODES))
    ap.add_argument("--repeat", type=int, default=5, help="runs of each, alternating")
    ap.add_argument("--optimizer", default="nesterov", help="of the training steps, both sides",
                    choices=("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"))
    ap.add_argument("--torch-python", help="a Python interpreter that has torch installed")
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--profile-steps", type=int, default=5,
                    help="steps PyTorch runs under torch.profiler for its per-layer split")
    ap.add_argument("--json", metavar="FILE", help="write the raw numbers of every run here")
    ap.add_argument("--gpu", action="store_true", help="cnnviz on cupy against PyTorch CUDA")
    args = ap.parse_args(argv)
    torch_py = args.torch_python
    if torch_py is None:
        try:
            import torch  # noqa: F401

            torch_py = sys.executable
        except ImportError:
            print("torch not found (see --torch-python): timing cnnviz only", file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.1f}, Python {platform.python_version()}; {args.steps} steps "
          f"per run after {args.warmup} warm-up, {args.optimizer} for training"
          + ("; cnnviz on cupy, PyTorch on CUDA" if args.gpu else ""))
    results, summary = [], []
    for arch in args.arch:
        for mode in args.mode:
            batch = args.batch_size if mode == "train" else args.eval_batch_size
            common = ["--arch", arch, "--steps", str(args.steps), "--warmup", str(args.warmup),
                      "--batch-size", str(batch)]
            if mode == "eval":
                common.append("--eval")
            else:
                common += ["--optimizer", args.optimizer]
            ours, theirs = [], []
            device = (["--backend", "cupy"], ["--device", "cuda", "--profile-steps", "0"]) \
                if args.gpu else (["--backend", "numpy"],
                                  ["--profile-steps", str(args.profile_steps)])
            for i in range(args.repeat):
                ours += run_json([sys.executable, "-m", "cnnviz", "bench", "--json", *common,
                                  *device[0]])
                note = f"cnnviz {ours[-1]['images_per_second']:.0f}"
                if torch_py:
                    theirs += run_json([torch_py, str(HERE / "torch_reference.py"), *common,
                                        "--threads", str(args.torch_threads), *device[1]])
                    note += f", torch {theirs[-1]['images_per_second']:.0f}"
                print(f"  {arch} {mode} run {i + 1}/{args.repeat}: {note} images/s",
                      file=sys.stderr, flush=True)
            print()
            print("\n".join(report(arch, mode, batch, ours, theirs, tables=not args.gpu)),
                  flush=True)
            a, b = summarize(ours), summarize(theirs)
            ratio = paired_ratio(ours, theirs)
            results.append({"arch": arch, "mode": mode, "batch_size": batch, "cnnviz": ours,
                            "torch": theirs, "median": {"cnnviz": a, "torch": b,
                                                        "ratio": ratio}})
            summary.append((arch, mode, batch, a, b, ratio))
    print()
    print(f"{'arch':<8}{'mode':<7}{'batch':>6}{'cnnviz img/s':>14}{'torch img/s':>13}"
          f"{'ratio':>8}{'peak MB':>9}")
    for arch, mode, batch, a, b, ratio in summary:
        print(f"{arch:<8}{mode:<7}{batch:>6}{a['images_per_second']:>14.0f}"
              f"{b['images_per_second'] if b else float('nan'):>13.0f}"
              f"{f'{ratio:.2f}' if ratio else '-':>8}{a['peak_memory_mb']:>9.0f}")
    if args.json:
        framework = results[0]["torch"][0]["framework"] if results and results[0]["torch"] else None
        with open(args.json, "w") as f:
            json.dump({"machine": {"processor": platform.processor() or platform.machine(),
                                   "cores": os.cpu_count(), "load_average": load,
                                   "python": platform.python_version(), "torch": framework},
                       "settings": vars(args), "results": results}, f, indent=1)
        print(f"raw numbers written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
