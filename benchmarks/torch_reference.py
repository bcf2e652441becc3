"""PyTorch CPU throughput of cnnviz's architectures, with a per-layer split, for comparison.

PyTorch is not a dependency: run this with any Python that has torch installed, e.g.
    python benchmarks/torch_reference.py --arch cnn-bn --batch-size 64 --steps 200
    python benchmarks/torch_reference.py --arch cnn-bn --batch-size 256 --steps 200 --eval
    python benchmarks/torch_reference.py --device cuda ...   (against cnnviz on cupy)

The model is built from cnnviz's preset spec (cnnviz/core/presets.py, read without importing
the rest of cnnviz), so its layers and their names ("0.Conv2D", ...) are cnnviz's. Training
steps use the optimizer `python -m cnnviz bench` uses (Nesterov SGD, lr 1e-3, momentum 0.9,
weight decay 5e-4 unless told otherwise) on one fixed random batch; --eval times eval-mode
forward passes under torch.inference_mode (with the softmax, as cnnviz's evaluation).

After the timed steps, --profile-steps more run under torch.profiler: each layer's forward
is the CPU time inside its record_function range; its backward is the CPU time of the autograd
nodes its forward ops created (matched by sequence number), plus the gradient accumulation
into its parameters that follows them. Prints one JSON line per architecture.

On --device cuda each step copies its batch from host memory and reads the loss (evaluation:
the probabilities) back, as a cnnviz step on cupy does; no per-layer split there (the
profiler's CPU times of asynchronous kernels say little).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import time
from pathlib import Path

import torch
from torch import nn
from torch.autograd.profiler import record_function

ROOT = Path(__file__).resolve().parents[1]
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
BACKWARD_PREFIX = "autograd::engine::evaluate_function:"
# record_function names are "layer 0.Conv2D", ...: the profiler mangles some bare ones
# (in torch 2.13 "8.Flatten" comes back as ".Flatten")
RANGE_PREFIX = "layer "


def presets() -> dict:
    """cnnviz's PRESETS, loaded from its file (plain dicts; needs neither numpy nor cnnviz)."""
    spec = importlib.util.spec_from_file_location("_cnnviz_presets",
                                                  ROOT / "cnnviz" / "core" / "presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PRESETS


def torch_layer(d: dict) -> nn.Module:
    """The torch module for one cnnviz spec entry."""
    kind = d["type"]
    if kind == "Conv2D":
        return nn.Conv2d(d["in_channels"], d["out_channels"], d["kernel_size"],
                         stride=d.get("stride", 1), padding=d.get("padding", 0))
    if kind == "Dense":
        return nn.Linear(d["in_features"], d["out_features"])
    if kind in ("MaxPool2D", "AvgPool2D"):
        cls = nn.MaxPool2d if kind == "MaxPool2D" else nn.AvgPool2d
        return cls(d["kernel_size"], d.get("stride") or d["kernel_size"])
    if kind in ("BatchNorm2D", "BatchNorm1D"):
        cls = nn.BatchNorm2d if kind == "BatchNorm2D" else nn.BatchNorm1d
        return cls(d["num_features"], eps=d.get("eps", 1e-5), momentum=d.get("momentum", 0.1))
    if kind == "Dropout":
        return nn.Dropout(d.get("p", 0.5))
    if kind == "LeakyReLU":
        return nn.LeakyReLU(d.get("negative_slope", 0.01))
    simple = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "HardTanh": nn.Hardtanh,
              "Flatten": nn.Flatten, "Identity": nn.Identity}
    if kind in simple:
        return simple[kind]()
    raise ValueError(f"no torch equivalent for layer type {kind!r}")


class Net(nn.Module):
    """Layers in order, named as cnnviz names them; with `ranges` on, each layer's forward
    runs inside a profiler range of its name."""

    def __init__(self, spec: list[dict]):
        super().__init__()
        self.names = [f"{i}.{d['type']}" for i, d in enumerate(spec)]
        self.layers = nn.ModuleList(torch_layer(d) for d in spec)
        self.ranges = False

    def forward(self, x):
        for name, layer in zip(self.names, self.layers):
            if self.ranges:
                with record_function(RANGE_PREFIX + name):
                    x = layer(x)
            else:
                x = layer(x)
        return x


def make_optimizer(name, params, lr, momentum, weight_decay):
    """The torch counterpart of cnnviz.core.optim.make_optimizer."""
    if name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(params, lr, momentum=0.0 if name == "sgd" else momentum,
                               nesterov=name == "nesterov", weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr, alpha=0.99, eps=1e-8, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def layer_split(events, names) -> dict:
    """{layer: [forward µs, backward µs]} summed over profiler `events` (FunctionEvents).

    Forward: the self CPU time of every event inside the layer's record_function range
    (RANGE_PREFIX + layer; the range's own time included, as cnnviz's timings include its
    Python). Backward: the total CPU time of each autograd node ("autograd::engine::
    evaluate_function: X") whose sequence number is that of a forward op of the layer; the
    nodes without one (AccumulateGrad of the parameters) go to the layer of the node run just
    before them. The loss and the optimizer belong to no layer.
    """
    ranges = {RANGE_PREFIX + n: n for n in names}
    split = {n: [0.0, 0.0] for n in names}
    seq_layer = {}

    def owner(e):
        while e is not None:
            if e.name in ranges:
                return ranges[e.name]
            e = e.cpu_parent
        return None

    def in_backward(e):
        while e is not None:
            if e.name.startswith(BACKWARD_PREFIX):
                return True
            e = e.cpu_parent
        return False

    for e in events:
        if in_backward(e):
            continue
        layer = owner(e)
        if layer is None:
            continue
        split[layer][0] += e.self_cpu_time_total
        if e.sequence_nr >= 0:
            seq_layer[e.sequence_nr] = layer
    nodes = [e for e in events if e.name.startswith(BACKWARD_PREFIX)
             and not in_backward(e.cpu_parent)]
    last = None
    for e in sorted(nodes, key=lambda e: e.time_range.start):
        layer = seq_layer.get(e.sequence_nr) if e.sequence_nr >= 0 else last
        last = layer
        if layer is not None:
            split[layer][1] += e.cpu_time_total
    return split


def bench(arch, batch_size, steps, warmup, evaluate=False, optimizer="nesterov", lr=1e-3,
          momentum=0.9, weight_decay=5e-4, profile_steps=5, device="cpu") -> dict:
    spec = presets()[arch]
    dev = torch.device(device)
    model = Net(spec).to(dev)
    x = torch.randn(batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,))
    if dev.type == "cpu":
        xd, yd = x, y  # no copies on the CPU
    if evaluate:
        model.eval()

        def run():
            with torch.inference_mode():
                if dev.type == "cpu":
                    return torch.softmax(model(x), 1)
                return torch.softmax(model(x.to(dev)), 1).cpu()
    else:
        model.train()
        opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
        loss_fn = nn.CrossEntropyLoss()

        def run():
            opt.zero_grad()
            if dev.type == "cpu":
                loss_fn(model(xd), yd).backward()
            else:
                loss = loss_fn(model(x.to(dev)), y.to(dev))
                loss.backward()
                loss.item()
            opt.step()

    for _ in range(warmup):
        run()
    t0 = time.perf_counter()
    for _ in range(steps):
        run()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    result = {"framework": f"torch {torch.__version__}", "device": device, "arch": arch,
              "mode": "eval" if evaluate else "train", "batch_size": batch_size,
              "threads": torch.get_num_threads(), "steps": steps,
              "images_per_second": round(steps * batch_size / seconds, 1),
              "ms_per_step": round(seconds / steps * 1e3, 2)}
    if not evaluate:
        result["optimizer"] = optimizer
    if profile_steps > 0 and dev.type == "cpu":
        from torch.profiler import ProfilerActivity, profile

        model.ranges = True
        # a first, discarded profile of one step takes the profiler's start-up costs
        for steps_traced in (1, profile_steps):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(steps_traced):
                    run()
        model.ranges = False
        split = layer_split(prof.events(), model.names)
        result["layers"] = {}
        for name, (f, b) in split.items():
            result["layers"][name] = {"forward_ms": round(f / profile_steps / 1e3, 3)}
            if not evaluate:
                result["layers"][name]["backward_ms"] = round(b / profile_steps / 1e3, 3)
    result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["cnn-bn", "lenet5"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--eval", action="store_true", help="eval-mode forward passes only")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="nesterov")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--profile-steps", type=int, default=5,
                    help="steps under torch.profiler for the per-layer split (0: none)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for arch in args.arch:
        print(json.dumps(bench(arch, args.batch_size, args.steps, args.warmup, args.eval,
                               args.optimizer, args.lr, args.momentum, args.weight_decay,
                               args.profile_steps, args.device)), flush=True)


if __name__ == "__main__":
    main()
