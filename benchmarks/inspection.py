"""Timings of the inspection computations on cnn-bn (after a short training), on this machine.

    CNNVIZ_DATA=path/to/mnist python benchmarks/inspection.py [--steps 100]

Falls back to the synthetic dataset when no MNIST is found. Prints one line per computation.
"""

from __future__ import annotations

import argparse
import time

from cnnviz.data.sources import DataUnavailableError, load_dataset
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import TrainConfig, TrainingSession


def timed(label, fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<44}{best * 1e3:>10.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
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
    timed("top 9 digits per channel, 4.Conv2D", lambda: s.top_activations("4.Conv2D"), 1)
    timed("top 9 digits per channel, 0.Conv2D", lambda: s.top_activations("0.Conv2D"), 1)
    timed("embedding of 2000 digits (PCA)", lambda: s.embedding(2000))
    timed("evaluate the test set + confusion matrix", lambda: s.evaluate("test"), 1)
    s.collect_layer_stats = True
    timed("training step with layer statistics", s.step, 10)
    s.collect_layer_stats = False
    timed("training step without", s.step, 10)


if __name__ == "__main__":
    main()
