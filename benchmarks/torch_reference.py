"""PyTorch CPU training throughput of the same architectures, for the README's comparison.

PyTorch is not a dependency: run this with any Python that has torch installed, e.g.
    python benchmarks/torch_reference.py --arch cnn-bn --batch-size 64 --steps 200
It prints one JSON line per architecture with images_per_second.
"""

import argparse
import json
import time

import torch
from torch import nn


def build(arch):
    if arch == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", nargs="+", default=["cnn-bn", "lenet5"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    torch.manual_seed(0)
    for arch in args.arch:
        model = build(arch)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x = torch.randn(args.batch_size, 1, 28, 28)
        y = torch.randint(0, 10, (args.batch_size,))
        loss_fn = nn.CrossEntropyLoss()
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                t0 = time.perf_counter()
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        dt = time.perf_counter() - t0
        print(json.dumps({"framework": f"torch {torch.__version__}", "arch": arch,
                          "batch_size": args.batch_size, "threads": torch.get_num_threads(),
                          "images_per_second": round(args.steps * args.batch_size / dt, 1)}))


if __name__ == "__main__":
    main()
