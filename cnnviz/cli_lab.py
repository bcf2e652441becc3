"""The command line's lab: lr-find, visualize, attack and export (see cnnviz.cli for the
rest)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from cnnviz.backend import BACKEND_ENV, BACKEND_NAMES, to_numpy
from cnnviz.core.losses import softmax
from cnnviz.core.optim import OPTIMIZERS
from cnnviz.core.presets import DEFAULT_PRESET
from cnnviz.training import TrainConfig, TrainingSession
from cnnviz.training.attack import EPS_MAX


def add_lab_parsers(sub) -> None:
    """The lr-find, visualize, attack and export subcommands, on the parser's subparsers
    `sub`."""
    from cnnviz.cli import _arch_args

    f = sub.add_parser("lr-find", help="learning-rate range test: the loss of a fresh model "
                       "while the rate rises exponentially, and a suggested rate")
    _arch_args(f)
    f.add_argument("--optimizer", choices=OPTIMIZERS)
    f.add_argument("--momentum", type=float)
    f.add_argument("--weight-decay", type=float)
    f.add_argument("--batch-size", type=int)
    f.add_argument("--steps", type=int, default=100, help="steps of the test (default 100)")
    f.add_argument("--start", type=float, default=1e-6, help="first rate (default 1e-6)")
    f.add_argument("--end", type=float, default=1.0, help="last rate (default 1)")
    f.add_argument("--seed", type=int)
    f.add_argument("--backend", choices=BACKEND_NAMES,
                   help=f"default: ${BACKEND_ENV}, else numpy")
    f.add_argument("--data", metavar="DIR", help="folder with the four IDX files")
    f.add_argument("--dataset", help="named dataset: mnist (default) or fashion-mnist")
    f.add_argument("--limit-train", type=int, metavar="N")
    f.add_argument("--json", action="store_true",
                   help="print {lrs, smoothed, suggestion, stopped_early} as the last line")

    v = sub.add_parser("visualize", help="synthesize the inputs that drive each channel of a "
                       "layer (or each class score) hardest")
    v.add_argument("--load", metavar="PATH", required=True)
    which = v.add_mutually_exclusive_group(required=True)
    which.add_argument("--layer", metavar="NAME", help="a conv-shaped layer, e.g. 0.Conv2D")
    which.add_argument("--classes", action="store_true", help="one input per class score")
    v.add_argument("--steps", type=int, default=200, help="gradient-ascent steps (default 200)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--out", metavar="PNG", help="write the images as a grid (needs Pillow)")
    v.add_argument("--data", metavar="DIR")
    v.add_argument("--limit-test", type=int, metavar="N")
    v.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    a = sub.add_parser("attack", help="the smallest pixel change that makes a checkpoint call "
                       "a test image a chosen class")
    a.add_argument("--load", metavar="PATH", required=True)
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, help="test image index")
    which.add_argument("--all", type=int, metavar="N", help="attack the first N test images "
                       "not of the target class; report the success rate and median size")
    a.add_argument("--target", type=int, required=True, help="class to reach")
    a.add_argument("--eps-max", type=float, default=EPS_MAX,
                   help="largest L-infinity budget in pixel units 0..1 (default 0.3)")
    a.add_argument("--data", metavar="DIR")
    a.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    x = sub.add_parser("export", help="write a checkpoint's model as an ONNX graph: pixels in "
                       "0..1 -> class scores (needs the onnx package)")
    x.add_argument("--load", metavar="PATH", required=True)
    x.add_argument("--out", metavar="ONNX", required=True, help="the .onnx file to write")
    x.add_argument("--json", action="store_true", help="print {path, opset, input_shape, "
                   "classes, bytes} as the last line")


def cmd_lr_find(args) -> int:
    """The learning-rate range test (cnnviz.training.lr_find) on a freshly built model."""
    from cnnviz.cli import _load_data, _load_spec
    from cnnviz.training.lr_find import METHODS, check_arguments, lr_find

    check_arguments(args.steps, args.start, args.end)  # before the data is loaded
    overrides = {k: v for k, v in {
        "batch_size": args.batch_size, "optimizer": args.optimizer, "momentum": args.momentum,
        "weight_decay": args.weight_decay, "seed": args.seed, "backend": args.backend,
        "data_dir": args.data, "dataset": args.dataset, "limit_train": args.limit_train,
    }.items() if v is not None}
    config = TrainConfig(**overrides, arch=args.arch or DEFAULT_PRESET, spec=_load_spec(args))
    config.validate()
    session = TrainingSession(config, _load_data(config.data_dir, config.dataset))
    print(f"{session.dataset.name}: {len(session.splits['train'][1])} training images "
          f"({session.dataset.source}); backend {session.backend.name}", file=sys.stderr)
    t0 = time.perf_counter()
    r = lr_find(session, steps=args.steps, start=args.start, end=args.end)
    seconds = time.perf_counter() - t0
    k = len(r.lrs)
    print(f"{'step':>6}{'lr':>12}{'loss':>10}{'smoothed':>10}")
    every = max(args.steps // 10, 1)
    for i in range(k):
        if i % every == 0 or i == k - 1:
            print(f"{i + 1:>6}{r.lrs[i]:>12.3e}{r.losses[i]:>10.4f}{r.smoothed[i]:>10.4f}")
    if r.stopped_early:
        print(f"stopped after {k} of {args.steps} steps: the loss blew up")
    if r.method != "none":
        print(f"suggested learning rate: {r.suggestion:.3g} ({METHODS[r.method]})")
    else:
        print("no suggestion: the loss was not finite even at the first rate; lower --start")
    print(f"{config.arch if config.spec is None else 'spec'}, {config.optimizer}, batch "
          f"{config.batch_size}: {k} steps in {seconds:.1f}s", file=sys.stderr)
    if args.json:
        print(json.dumps({"lrs": r.lrs.tolist(), "smoothed": r.smoothed.tolist(),
                          "suggestion": r.suggestion if k else None,
                          "stopped_early": r.stopped_early}))
    return 0


def _pixel_range(norm):
    """(lo, hi) per channel: where normalised pixels 0 and 1 land under `norm` (mean, std)."""
    import numpy as np

    mean, std = (np.atleast_1d(np.asarray(v, np.float32)) for v in norm)
    return (0 - mean) / std, (1 - mean) / std


def _write_grid(path, images, norm) -> None:
    """Images (K, C, H, W) normalised -> a PNG grid, each image min-max scaled, 3x enlarged."""
    import numpy as np
    from PIL import Image

    from cnnviz.data.loader import denormalize

    pix = denormalize(images, *norm)
    k, c, h, w = pix.shape
    lo = pix.reshape(k, -1).min(axis=1)[:, None, None, None]
    span = np.maximum(pix.reshape(k, -1).max(axis=1)[:, None, None, None] - lo, 1e-8)
    pix = ((pix - lo) / span * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    cols = int(np.ceil(np.sqrt(k)))
    rows, gap = -(-k // cols), 2
    grid = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap, c), np.uint8)
    for i in range(k):
        r, q = divmod(i, cols)
        grid[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = pix[i]
    img = Image.fromarray(grid[:, :, 0] if c == 1 else grid)
    img.resize((img.width * 3, img.height * 3), Image.NEAREST).save(path)


def cmd_visualize(args) -> int:
    """Synthesized inputs (cnnviz.training.synthesis) for a layer's channels or the classes."""
    from cnnviz.training.synthesis import best_test_inputs, synthesize

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    overrides = {"data_dir": args.data} if args.data else {}
    if args.limit_test:
        overrides["limit_test"] = args.limit_test
    session = TrainingSession.from_checkpoint(args.load, None, **overrides)
    model, test_x = session.model, session.splits["test"][0]
    lo, hi = _pixel_range(session.norm)
    r = synthesize(model, None if args.classes else args.layer, test_x.shape[1:], lo, hi,
                   steps=args.steps, seed=args.seed, classes=args.classes)
    if args.classes:
        probs = to_numpy(softmax(model.forward(session.backend.to_device(r.images), False)))
        own = [float(probs[k, k]) for k in range(len(r.images))]
        result = {"classes": list(session.class_names)[: len(own)], "probability": own,
                  "seconds": round(r.seconds, 3)}
        for name, p in zip(result["classes"], own):
            print(f"class {name}: probability {p:.4f} for its synthesized image")
    else:
        _, best = best_test_inputs(model, test_x, args.layer)
        result = {"layer": args.layer, "channels": len(r.images),
                  "activation": [float(v) for v in r.objective],
                  "best_test_activation": [float(v) for v in best],
                  "seconds": round(r.seconds, 3)}
        beats = int((r.objective > best).sum())
        print(f"{args.layer}: the synthesized input beats the best of {len(test_x)} test "
              f"images on {beats} of {len(best)} channels")
    print(f"{len(r.images)} inputs, {args.steps} steps in {r.seconds:.1f}s", file=sys.stderr)
    if args.out:
        try:
            _write_grid(args.out, r.images, session.norm)
            print(f"wrote {args.out}", file=sys.stderr)
        except ImportError:
            print("--out needs Pillow (pip install pillow); no image written", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_attack(args) -> int:
    """A targeted attack (cnnviz.training.attack) on one test image of a checkpoint, or on
    the first N with --all."""
    from cnnviz.training.attack import targeted_attack
    from cnnviz.training.inspect import check_digit

    if args.all is not None and args.all < 1:
        raise ValueError("--all needs at least 1 image")
    overrides = {"data_dir": args.data} if args.data else {}
    session = TrainingSession.from_checkpoint(args.load, None, **overrides)
    test_x, test_y = session.splits["test"]
    names = session.class_names
    if args.all is not None:
        return _attack_all(session, args)
    i = check_digit(args.index, len(test_y))
    a = targeted_attack(session.model, session.backend.to_device(test_x[i : i + 1]),
                        args.target, *session.norm, eps_max=args.eps_max)
    print(f"test image {i} ({names[int(test_y[i])]}, predicted "
          f"{names[int(a.probs_before.argmax())]}) -> {names[a.predicted]} "
          f"({a.probability:.3f}) with L-inf {a.linf:.3f}: "
          f"{'success' if a.success else 'failed'} (target {names[args.target]})")
    if args.json:
        print(json.dumps({"index": i, "target": args.target, "label": int(test_y[i]),
                          "predicted": a.predicted, "linf": round(a.linf, 6),
                          "probability": a.probability, "success": a.success}))
    return 0


def _attack_all(session, args) -> int:
    from cnnviz.training.attack import attack_many

    test_x, test_y = session.splits["test"]
    classes = session.model_classes()
    if not 0 <= args.target < classes:
        raise ValueError(f"no class {args.target}: choose a target from 0 to {classes - 1}")
    t0 = time.perf_counter()
    idx, linf, ok = attack_many(session.model, test_x, test_y, args.target, *session.norm,
                                n=args.all, eps_max=args.eps_max)
    seconds = time.perf_counter() - t0
    median = float(np.median(linf[ok])) if ok.any() else None
    print(f"{int(ok.sum())} of {len(ok)} attacks toward {session.class_names[args.target]} "
          f"succeeded within L-inf {args.eps_max}; median size "
          f"{'-' if median is None else f'{median:.3f}'} ({seconds:.1f}s)")
    if args.json:
        print(json.dumps({"target": args.target, "attacked": len(ok),
                          "succeeded": int(ok.sum()), "success_rate": float(ok.mean()),
                          "median_linf": median, "eps_max": args.eps_max,
                          "seconds": round(seconds, 3)}))
    return 0


def cmd_export(args) -> int:
    """A checkpoint's model as ONNX (cnnviz.training.onnx_export)."""
    from cnnviz.training.onnx_export import export_checkpoint

    r = export_checkpoint(args.load, args.out)
    shape = "x".join(str(v) for v in r["input_shape"][1:])
    print(f"wrote {r['path']}: {shape} pixels in 0..1 -> {len(r['classes'])} class scores, "
          f"opset {r['opset']}, {r['bytes'] / 1e6:.2f} MB")
    if args.json:
        print(json.dumps(r))
    return 0


LAB_COMMANDS = {"lr-find": cmd_lr_find, "visualize": cmd_visualize, "attack": cmd_attack,
                "export": cmd_export}
