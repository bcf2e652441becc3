"""cnnviz's default training recipe in PyTorch (CPU), for an accuracy table beside cnnviz's.

    CNNVIZ_DATA=/path/to/mnist python benchmarks/torch_recipe.py --arch cnn-bn --epochs 2 \\
        [--seed 0] [--limit-train N] [--limit-test N] [--dataset fashion-mnist] [--data DIR]
        [--json] [--threads 2] [--torch-init]

It mirrors `python -m cnnviz train` with TrainConfig's defaults (read from cnnviz, so they stay
in step): the same data (cnnviz's loader, limits, seeded validation split, normalisation), the
same batches in the same order (BatchIterator), the same augmentation of each batch (Augment,
generator seeded with [seed, epoch, position], blank pixels filled with normalised black), the
same one-cycle learning rate and Adam beta1 per step (scheduled_lr / scheduled_momentum written
into the optimizer's param group), torch.optim.Adam with coupled L2 weight decay, the preset's
layers (torch_reference.Net) and cnnviz's initial weights: the model cnnviz builds from the seed
is copied in (Dense weights transposed), so both sides start from the same numbers; --torch-init
draws them in torch instead (He normal, the output layer x OUTPUT_SCALE, zero biases).

What differs: the dropout masks (torch's generator, seeded with the seed), float32 rounding
(different kernels and summation orders, so the runs drift apart after the first steps), and
ties in max pooling and the argmax if any. Test accuracy is measured in eval mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_reference
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # cnnviz from this checkout

from torch_reference import Net  # noqa: E402

from cnnviz.core.init import OUTPUT_SCALE  # noqa: E402
from cnnviz.core.model import build_model  # noqa: E402
from cnnviz.core.optim import scheduled_lr, scheduled_momentum  # noqa: E402
from cnnviz.core.presets import preset  # noqa: E402
from cnnviz.data.augment import Augment  # noqa: E402
from cnnviz.data.loader import BatchIterator, normalize, split_validation  # noqa: E402
from cnnviz.data.sources import load_dataset  # noqa: E402
from cnnviz.training.config import TrainConfig  # noqa: E402


def init_like_cnnviz(net: Net, spec: list[dict], input_shape, seed: int, own: bool) -> None:
    """Give net cnnviz's initial weights for `seed` (own: draw He normal ones in torch)."""
    with torch.no_grad():
        if own:
            weighted = [m for m in net.layers if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
            for m in weighted:
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # std sqrt(2/fan_in)
                torch.nn.init.zeros_(m.bias)
            weighted[-1].weight.mul_(OUTPUT_SCALE)  # presets end in a Dense: the class scores
            return
        model = build_model(spec, input_shape, seed)
        for layer, module in zip(model.layers, net.layers):
            for name, value in layer.params.items():
                target = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}[name]
                value = value.T if layer.kind == "Dense" and name == "W" else value
                getattr(module, target).copy_(torch.from_numpy(np.ascontiguousarray(value)))


def evaluate(net: Net, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) in eval mode."""
    net.eval()
    with torch.inference_mode():
        logits = torch.cat([net(torch.from_numpy(x[i : i + 500])) for i in range(0, len(x), 500)])
        loss = F.cross_entropy(logits, torch.from_numpy(y)).item()
        return loss, (logits.argmax(1).numpy() == y).mean().item()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="cnn-bn")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-train", type=int)
    ap.add_argument("--limit-test", type=int)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data", metavar="DIR", help="folder of the four IDX files")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--torch-init", action="store_true", help="draw the initial weights in torch")
    ap.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = ap.parse_args(argv)
    cfg, seed = TrainConfig(), args.seed
    assert cfg.optimizer == "adam", "this script mirrors an Adam recipe"
    torch.set_num_threads(args.threads)
    torch.manual_seed(seed)

    ds = load_dataset(args.data, name=args.dataset)  # CNNVIZ_DATA as cnnviz reads it
    limit, limit_test = args.limit_train or None, args.limit_test or None  # 0: all, as cnnviz
    train_x, train_y = ds.train_images[:limit], ds.train_labels[:limit]
    test_x, test_y = ds.test_images[:limit_test], ds.test_labels[:limit_test]
    val_size = min(cfg.val_size, len(train_x) // 5)
    tx, ty, vx, vy = split_validation(train_x, train_y, val_size, seed)
    train = normalize(tx), np.asarray(ty, np.int64)
    val = normalize(vx), np.asarray(vy, np.int64)
    test = normalize(test_x), np.asarray(test_y, np.int64)
    blank = float(normalize(np.zeros((1, 1, 1), np.uint8))[0, 0, 0, 0])
    augment = Augment(cfg.augment, flip=bool(getattr(ds, "flips", False)))
    print(f"{ds.name}: {len(train[1])} training, {len(val[1])} validation, {len(test[1])} test "
          f"images ({ds.source}); torch {torch.__version__}, {args.threads} threads",
          file=sys.stderr)

    spec = preset(args.arch)
    net = Net(spec)
    init_like_cnnviz(net, spec, train[0].shape[1:], seed, args.torch_init)
    opt = torch.optim.Adam(net.parameters(), cfg.lr, betas=(cfg.momentum, 0.999),
                           weight_decay=cfg.weight_decay)
    batches = BatchIterator(*train, cfg.batch_size, seed=seed)
    total = len(batches) * args.epochs
    t0 = epoch_start = time.perf_counter()
    sums = [0.0, 0.0, 0]
    for step in range(total):
        epoch, position = batches.epoch, batches.position
        x, y, ended = batches.next_batch()
        if cfg.augment:
            x = augment.apply(x, np.random.default_rng([seed, epoch, position]), fill=blank)
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(cfg.schedule, cfg.lr, step, total)
            group["betas"] = (scheduled_momentum(cfg.schedule, cfg.momentum, step, total),
                              group["betas"][1])
        net.train()
        logits = net(torch.from_numpy(x))
        loss = F.cross_entropy(logits, torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sums[0] += loss.item() * len(y)
        sums[1] += (logits.argmax(1).numpy() == y).sum().item()
        sums[2] += len(y)
        if ended:
            val_loss, val_acc = evaluate(net, *val) if len(val[1]) else (float("nan"),) * 2
            print(f"epoch {epoch + 1}: train loss {sums[0] / sums[2]:.4f} acc "
                  f"{sums[1] / sums[2]:.4f} | val loss {val_loss:.4f} acc {val_acc:.4f} | "
                  f"{time.perf_counter() - epoch_start:.1f}s", flush=True)
            sums, epoch_start = [0.0, 0.0, 0], time.perf_counter()
    seconds = time.perf_counter() - t0
    test_loss, test_acc = evaluate(net, *test)
    print(f"test accuracy {test_acc:.4f}, loss {test_loss:.4f} ({len(test[1])} images) after "
          f"{args.epochs} epochs in {seconds:.1f}s", flush=True)
    if args.json:
        print(json.dumps({"framework": f"torch {torch.__version__}", "arch": args.arch,
                          "dataset": ds.name, "epochs": args.epochs, "seed": seed,
                          "test_accuracy": test_acc, "test_loss": test_loss,
                          "seconds": round(seconds, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
