"""Headless command line: python -m cnnviz train | evaluate | bench | summary | lr-find |
visualize | attack | export."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from cnnviz import __version__
from cnnviz.backend import BACKEND_ENV, BACKEND_NAMES, BackendError, to_numpy
from cnnviz.cli_lab import LAB_COMMANDS, add_lab_parsers
from cnnviz.core.losses import softmax
from cnnviz.core.model import SpecError, build_model, format_summary
from cnnviz.core.optim import OPTIMIZERS, SCHEDULES
from cnnviz.core.presets import DEFAULT_PRESET, PRESETS, preset
from cnnviz.data.dataset import Dataset, DataUnavailableError
from cnnviz.data.idx import IDXError
from cnnviz.data.sources import load_dataset
from cnnviz.data.synthetic import synthetic_dataset
from cnnviz.training import DivergenceError, TrainConfig, TrainingSession
from cnnviz.training.checkpoint import CheckpointError

# Errors that carry a message meant for the user: printed as one line, exit status 1.
USER_ERRORS = (BackendError, SpecError, IDXError, DataUnavailableError, DivergenceError,
               CheckpointError, FileNotFoundError, ValueError, KeyError, OSError)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


COUNTED = ("decoding images",)  # progress names whose counts are items, not bytes


class DownloadBars:
    """A data ``progress(name, done, total)`` callback drawing one tqdm bar per file (bytes), or
    per step counted in items (names starting with one of COUNTED).

    Use as ``with DownloadBars(file=sys.stderr) as p: load_dataset(progress=p)``; keyword
    arguments go to each ``tqdm``.
    """

    def __init__(self, **tqdm_kwargs):
        self._kwargs = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, **tqdm_kwargs}
        self._bar = None
        self._name: str | None = None

    def __call__(self, name: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if name != self._name:
            self.close()
            self._name = name
            kwargs = self._kwargs
            if name.startswith(COUNTED):  # counts images, not bytes
                kwargs = {**kwargs, "unit": " images", "unit_scale": False}
            self._bar = tqdm(total=total, desc=name, **kwargs)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._name = None

    def __enter__(self) -> DownloadBars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _arch_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--arch", choices=sorted(PRESETS), help=f"preset (default {DEFAULT_PRESET})")
    g.add_argument("--spec", metavar="FILE", help="JSON file with a list of layer dicts")


def _load_spec(args):
    if getattr(args, "spec", None):
        with open(args.spec, encoding="utf-8") as f:
            try:
                return json.load(f)
            except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
                raise SpecError(f"{args.spec}: not valid JSON ({exc.__class__.__name__}: "
                                f"{exc}); write the spec as a JSON list of layer dicts") from None
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnviz", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cnnviz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on MNIST, another IDX folder, CIFAR-10 "
                       "or your own images")
    _arch_args(t)
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--lr", type=float)
    t.add_argument("--momentum", type=float)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--schedule", choices=SCHEDULES)
    t.add_argument("--seed", type=int)
    t.add_argument("--augment", type=float, metavar="S", nargs="?", const=1.0,
                   help="random shifts, rotations and zooms of the training images, strength "
                        "S (default 1 when given: up to 2 px, 10 degrees, 10%%; 0: off)")
    t.add_argument("--backend", choices=BACKEND_NAMES,
                   help=f"default: ${BACKEND_ENV}, else numpy")
    t.add_argument("--data", metavar="DIR", help="folder with the four IDX files, the CIFAR-10 "
                   "binary batches, or class folders of images")
    t.add_argument("--image-size", type=int, metavar="N",
                   help="resize an image folder's images to N x N (default: the most common size)")
    t.add_argument("--dataset", help="named dataset: mnist (default) or fashion-mnist")
    t.add_argument("--val-size", type=int, help="training images held out for validation")
    t.add_argument("--limit-train", type=int, metavar="N")
    t.add_argument("--limit-test", type=int, metavar="N")
    t.add_argument("--save", metavar="PATH", help="write a checkpoint at the end")
    t.add_argument("--resume", metavar="PATH", help="continue from a checkpoint")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    e = sub.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    e.add_argument("--load", metavar="PATH", required=True)
    e.add_argument("--data", metavar="DIR")
    e.add_argument("--limit-test", type=int, metavar="N")
    e.add_argument("--json", action="store_true")

    b = sub.add_parser("bench", help="training-step (or, with --eval, evaluation) throughput "
                       "and per-layer times on synthetic data")
    b.add_argument("--arch", choices=sorted(PRESETS), default=DEFAULT_PRESET)
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--steps", type=int, default=100, help="timed steps (batches with --eval)")
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--eval", action="store_true",
                   help="time eval-mode forward passes (as evaluate runs them), no backward")
    b.add_argument("--optimizer", choices=OPTIMIZERS,
                   help=f"optimizer of the training steps (default {TrainConfig.optimizer})")
    b.add_argument("--backend", choices=BACKEND_NAMES,
                   help=f"default: ${BACKEND_ENV}, else numpy")
    b.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    s = sub.add_parser("summary", help="the layer table of an architecture")
    _arch_args(s)
    s.add_argument("--input", default="1x28x28", metavar="CxHxW",
                   help="input shape (default 1x28x28; 3x32x32 for CIFAR-10)")

    add_lab_parsers(sub)
    return parser


def _load_data(data_dir, name="mnist", quiet=False, image_size=None) -> Dataset:
    with DownloadBars(disable=quiet) as progress:
        return load_dataset(data_dir, name=name, progress=progress, image_size=image_size)


def cmd_train(args) -> int:
    overrides = {k: v for k, v in {
        "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
        "lr": args.lr, "momentum": args.momentum, "weight_decay": args.weight_decay,
        "schedule": args.schedule, "seed": args.seed, "backend": args.backend,
        "data_dir": args.data, "dataset": args.dataset, "val_size": args.val_size,
        "limit_train": args.limit_train, "limit_test": args.limit_test,
        "augment": args.augment, "image_size": args.image_size,
    }.items() if v is not None}
    from tqdm import tqdm

    if args.resume:
        epochs = overrides.pop("epochs", None)
        session = TrainingSession.from_checkpoint(args.resume, None, **overrides)
        note = session.set_epochs(epochs) if epochs else None
        if note:
            print(f"{args.resume} is a finished run: {note}", file=sys.stderr)
    else:
        spec = _load_spec(args)
        config = TrainConfig(**overrides, arch=args.arch or DEFAULT_PRESET, spec=spec)
        config.validate()
        session = TrainingSession(config, _load_data(config.data_dir, config.dataset,
                                                       image_size=config.image_size))
    cfg = session.config
    print(f"{session.dataset.name}: {len(session.splits['train'][1])} training, "
          f"{len(session.splits['val'][1])} validation, {len(session.splits['test'][1])} test "
          f"images ({session.dataset.source}); backend {session.backend.name}", file=sys.stderr)
    bar = tqdm(total=session.total_steps, initial=session.step_count, unit="step",
               file=sys.stderr, dynamic_ncols=True)

    def on_event(ev):
        kind = type(ev).__name__
        if kind == "StepMetrics":
            bar.update(1)
            if ev.step % 10 == 0:
                bar.set_postfix(epoch=ev.epoch + 1, loss=f"{ev.loss:.4f}", lr=f"{ev.lr:.2e}",
                                img_s=f"{ev.images_per_second:.0f}")
        elif kind == "EpochMetrics":
            bar.write(f"epoch {ev.epoch + 1}: train loss {ev.train_loss:.4f} acc "
                      f"{ev.train_accuracy:.4f} | val loss {ev.val_loss:.4f} acc "
                      f"{ev.val_accuracy:.4f} | {ev.seconds:.1f}s", file=sys.stderr)

    session.listeners.append(on_event)
    start_step, t0 = session.step_count, time.perf_counter()
    try:
        session.run()
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    images = (session.step_count - start_step) * cfg.batch_size
    ev = session.evaluate("test")
    if args.save:
        session.save(args.save)
        print(f"saved checkpoint {args.save}", file=sys.stderr)
    print(f"test accuracy {ev.accuracy:.4f}, loss {ev.loss:.4f} "
          f"({len(ev.labels)} images) after {session.epoch} epochs in {seconds:.1f}s",
          file=sys.stderr)
    if args.json:
        print(json.dumps({
            "arch": cfg.arch if cfg.spec is None else "spec", "optimizer": cfg.optimizer,
            "lr": cfg.lr, "schedule": cfg.schedule, "batch_size": cfg.batch_size,
            "epochs": session.epoch, "steps": session.step_count,
            "test_accuracy": ev.accuracy, "test_loss": ev.loss, "seconds": round(seconds, 2),
            "images_per_second": round(images / seconds, 1) if seconds > 0 else 0.0,
            "peak_memory_mb": round(peak_memory_mb(), 1)}))
    return 0


def cmd_evaluate(args) -> int:
    overrides = {"data_dir": args.data} if args.data else {}
    if args.limit_test:
        overrides["limit_test"] = args.limit_test
    session = TrainingSession.from_checkpoint(args.load, None, **overrides)
    ev = session.evaluate("test")
    if args.json:
        print(json.dumps({"test_accuracy": ev.accuracy, "test_loss": ev.loss,
                          "count": len(ev.labels), "confusion": ev.confusion.tolist()}))
    else:
        names = session.class_names
        print(f"test accuracy {ev.accuracy:.4f}, loss {ev.loss:.4f} on {len(ev.labels)} images")
        print("confusion matrix (rows: true class, columns: predicted)")
        print("      " + "".join(f"{n[:5]:>6}" for n in names))
        for name, row in zip(names, ev.confusion):
            print(f"{name[:5]:>6}" + "".join(f"{v:>6}" for v in row))
    return 0


def cmd_bench(args) -> int:
    """Throughput of training steps (or eval-mode forward passes with --eval) on synthetic
    data after a warm-up, then each layer's forward (and backward) milliseconds averaged over
    up to 20 more profiled steps."""
    steps, warmup, bs = args.steps, args.warmup, args.batch_size
    if steps < 1 or warmup < 0 or bs < 1:
        raise ValueError("steps and batch size must be at least 1, warmup 0 or more")
    mode = "eval" if args.eval else "train"
    config = TrainConfig(arch=args.arch, batch_size=bs, val_size=0, epochs=1,
                         schedule="constant", lr=1e-3)
    config.backend = args.backend or config.backend
    if args.optimizer:
        config.optimizer = args.optimizer
    # training takes steps + warmup batches (one epoch); evaluation cycles over up to 20
    batches = steps + warmup if mode == "train" else min(steps + warmup, 20)
    session = TrainingSession(config, synthetic_dataset(bs * batches, 10))
    model, backend = session.model, session.backend
    if mode == "train":
        run = session.step
    else:
        x = session.splits["train"][0]
        count = [0]

        def run():
            # as TrainingSession.evaluate: to the device, eval-mode forward, softmax, to host
            i = count[0] % batches * bs
            count[0] += 1
            return to_numpy(softmax(model.predict(backend.to_device(x[i : i + bs]))))

        model.eval()
    for _ in range(warmup):
        run()
    t0 = time.perf_counter()
    for _ in range(steps):
        run()
    seconds = time.perf_counter() - t0
    profiled = min(steps, 20)
    model.profile = True
    sums = {name: [0.0, 0.0] for name in model.names}
    session.batches.load_state_dict({**session.batches.state_dict(), "position": 0})
    for _ in range(profiled):
        run()
        for name, (f, b) in model.timings.items():
            sums[name][0] += f / profiled
            sums[name][1] += b / profiled
    model.profile = False
    algorithms = {name: getattr(layer, "algorithm_used", None)
                  for name, layer in zip(model.names, model.layers)}
    layers = {}
    for n, (f, b) in sums.items():
        layers[n] = {"forward_ms": round(f, 3)}
        if mode == "train":
            layers[n]["backward_ms"] = round(b, 3)
        if algorithms[n] is not None:
            layers[n]["algorithm"] = str(algorithms[n])
    result = {"arch": args.arch, "mode": mode, "backend": session.backend.name,
              "batch_size": bs, "steps": steps,
              "images_per_second": round(steps * bs / seconds, 1),
              "ms_per_step": round(seconds / steps * 1e3, 2),
              "peak_memory_mb": round(peak_memory_mb(), 1), "layers": layers}
    if mode == "train":
        result["optimizer"] = config.optimizer
    if args.json:
        print(json.dumps(result))
        return 0
    what = "batch" if mode == "train" else "eval-mode forward, batch"
    print(f"{args.arch} {what} {bs} on {session.backend.name}: "
          f"{result['images_per_second']:.0f} images/s ({result['ms_per_step']} ms/"
          f"{'step' if mode == 'train' else 'batch'})")
    show_algo = any(a is not None for a in algorithms.values())
    print(f"{'layer':<16}{'forward ms':>12}" + (f"{'backward ms':>13}" if mode == "train" else "")
          + ("  algorithm" if show_algo else ""))
    for n, (f, b) in sums.items():
        algo = algorithms[n]
        print(f"{n:<16}{f:>12.3f}" + (f"{b:>13.3f}" if mode == "train" else "")
              + (f"  {algo}" if show_algo and algo is not None else ""))
    return 0


def cmd_summary(args) -> int:
    spec = _load_spec(args) or preset(args.arch or DEFAULT_PRESET)
    try:
        shape = tuple(int(v) for v in args.input.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input {args.input!r}: give channels x height x width, e.g. 3x32x32")
    model = build_model(spec, shape)
    print(format_summary(model.summary(), model.input_shape))
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "bench": cmd_bench,
            "summary": cmd_summary, **LAB_COMMANDS}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"cnnviz {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cnnviz {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
