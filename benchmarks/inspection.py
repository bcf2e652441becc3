"""Timings of the inspection computations on cnn-bn (after a short training), on this machine.

    CNNVIZ_DATA=path/to/mnist python benchmarks/inspection.py [--steps 100] [--repeat 1]
        [--eval-batch N] [--all-layers]

Falls back to the synthetic dataset when no MNIST is found. Prints one line per computation:
the best of `--repeat` runs for the one-shot passes over the test set (top digits, evaluation).
--eval-batch tries another batch size for TrainingSession.evaluate (its EVAL_BATCH);
--all-layers times the top digits of every layer with (channels, height, width) output.
"""

from __future__ import annotations

import argparse
import statistics
import time

from cnnviz.data.dataset import DataUnavailableError
from cnnviz.data.sources import load_dataset
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training import session as session_module
from cnnviz.training.timeline import Timeline


def timed(label, fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<52}{best * 1e3:>10.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each pass over the test set")
    ap.add_argument("--eval-batch", type=int, default=None, help="batch size for evaluate")
    ap.add_argument("--all-layers", action="store_true", help="top digits of every conv layer")
    args = ap.parse_args()
    if args.eval_batch:
        session_module.EVAL_BATCH = args.eval_batch
    try:
        dataset = load_dataset(download=False)
    except DataUnavailableError:
        dataset = synthetic_dataset(6000, 10000)
    s = TrainingSession(TrainConfig(limit_train=6000), dataset)
    for _ in range(args.steps):
        s.step()
    print(f"cnn-bn on {dataset.name}, {len(s.splits['test'][1])} test digits")
    timed("activations of one digit (every layer)", lambda: s.activations(0))
    timed("attribution (saliency + Grad-CAM + occlusion)", lambda: s.attribution(0))
    layers = s.conv_layers() if args.all_layers else ["4.Conv2D", "0.Conv2D"]
    for layer in layers:
        timed(f"top 9 digits per channel, {layer}", lambda name=layer: s.top_activations(name),
              args.repeat)
    timed("embedding of 2000 digits (PCA)", lambda: s.embedding(2000))
    timed(f"evaluate the test set + confusion matrix ({session_module.EVAL_BATCH}/batch)",
          lambda: s.evaluate("test"), args.repeat)
    timeline = Timeline(every=1)
    timed("timeline moment (1000-digit confusion, checkpoint)", lambda: timeline.record(
        s, s.activations(0), s.evaluate("test", limit=1000, emit=False)))
    print(f"{'  one moment holds':<52}{timeline.moments[-1].nbytes / 2**20:>10.2f} MB in memory, "
          f"{timeline.moments[-1].checkpoint.stat().st_size / 2**20:.1f} MB on disk")
    timeline.close()
    times = {True: [], False: []}  # steps with and without layer statistics, interleaved
    for i in range(60):
        s.collect_layer_stats = bool(i % 2)
        t0 = time.perf_counter()
        s.step()
        times[s.collect_layer_stats].append(time.perf_counter() - t0)
    for on, label in ((False, "training step (median of 30)"),
                      (True, "training step with layer statistics")):
        print(f"{label:<52}{statistics.median(times[on]) * 1e3:>10.1f} ms")


if __name__ == "__main__":
    main()
