"""Training throughput with and without the GUI, and how responsive the GUI stays.

- headless: a TrainingSession.step() loop, no Qt;
- GUI: the real main window open at 1600x1000 (offscreen unless QT_QPA_PLATFORM says
  otherwise), the worker thread training, every panel updating at its normal rate; then,
  still training, a 10 ms QTimer in the GUI thread records how late it fires.

Runs headless, GUI, headless, ... (--rounds GUI runs); each GUI run is compared with the
headless runs either side of it, since a shared machine's speed drifts. Prints images/s,
the ratio GUI/headless (target >= 0.8) and the GUI timer's delays.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_throughput.py [--steps 600] [--arch lenet5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def load_data(folder):
    from cnnviz.data.sources import load_dataset

    return load_dataset(folder)


def headless(cfg, dataset, steps: int, warmup: int) -> float:
    from cnnviz.training import TrainingSession

    s = TrainingSession(cfg, dataset)
    for _ in range(warmup):
        s.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        s.step()
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def with_gui(cfg, dataset, steps: int, warmup: int, probe_seconds: float):
    """(images/s with the window open, delays of a 10 ms GUI timer in ms). The GUI thread
    sits in Qt's event loop as in the app (no polling), so only the app's own work counts;
    the latency probe runs after the throughput measurement, not during it."""
    import numpy as np
    from PySide6 import QtCore

    from cnnviz.app.main import create_app
    from cnnviz.app.main_window import MainWindow

    app = create_app([sys.argv[0]])
    settings = QtCore.QSettings(os.path.join(tempfile.mkdtemp(), "cnnviz.ini"),
                                QtCore.QSettings.Format.IniFormat)
    w = MainWindow(dataset=dataset, config=cfg, settings=settings)
    w.resize(1600, 1000)
    w.show()

    def run_until(cond, timeout=3600.0):
        """Run the event loop until cond() holds (checked every 50 ms)."""
        loop = QtCore.QEventLoop()
        check = QtCore.QTimer()
        end = time.monotonic() + timeout

        def on_check():
            if cond() or time.monotonic() > end:
                loop.quit()

        check.timeout.connect(on_check)
        check.start(50)
        loop.exec()
        check.stop()
        if not cond():
            raise TimeoutError("the GUI run took too long")

    stamps: list[float] = []
    probe = QtCore.QTimer()
    probe.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(lambda: stamps.append(time.perf_counter()))
    try:
        run_until(lambda: w.act["start"].isEnabled())
        # the step counter is read straight from the training thread's session (an int, read
        # only) so that both ends of the timed span are exact, not a drain interval late
        session = w.controller.worker.driver.session
        w.start()
        run_until(lambda: session.step_count >= warmup)
        n0, t0, c0 = session.step_count, time.perf_counter(), time.thread_time()
        run_until(lambda: session.step_count >= n0 + steps)
        n1, t1, c1 = session.step_count, time.perf_counter(), time.thread_time()
        probe.start()
        p_end = time.monotonic() + probe_seconds
        run_until(lambda: time.monotonic() >= p_end)
        probe.stop()
        w.pause()
        run_until(lambda: w.controller.state != "running")
        shown = w.panels["curves"].num_steps
    finally:
        w.close()
        app.processEvents()
    print(f"  GUI run: {n1 - n0} steps in {t1 - t0:.1f} s, curves show {shown} steps; "
          f"the GUI thread used {100 * (c1 - c0) / (t1 - t0):.0f}% of a CPU")
    delays = (np.diff(stamps) * 1e3 - 10).tolist() if len(stamps) > 1 else [float("nan")]
    return (n1 - n0) * cfg.batch_size / (t1 - t0), delays


def main(argv=None) -> int:
    import numpy as np

    from cnnviz.training import TrainConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600,
                   help="measured steps (stay within one epoch: 937 for MNIST at batch 64)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--arch", default="lenet5")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data", metavar="DIR", help="IDX folder (default: CNNVIZ_DATA or MNIST)")
    p.add_argument("--rounds", type=int, default=2, help="GUI runs (with headless between)")
    p.add_argument("--probe", type=float, default=5.0,
                   help="seconds of the 10 ms GUI-timer latency probe after the GUI run")
    args = p.parse_args(argv)

    dataset = load_data(args.data)
    # constant lr and no validation: every run does the same work per step
    cfg = TrainConfig(arch=args.arch, batch_size=args.batch_size, schedule="constant",
                      epochs=50, val_size=0)
    print(f"{args.arch}, batch {args.batch_size}, {args.steps} steps per run on {dataset!r}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    # headless, GUI, headless, GUI, ..., headless: each GUI run is compared with the mean
    # of the headless runs either side of it, as the machine's speed drifts.
    heads = [headless(cfg, dataset, args.steps, args.warmup)]
    print(f"  headless: {heads[-1]:,.0f} img/s")
    guis, delays = [], []
    for _ in range(args.rounds):
        g, d = with_gui(cfg, dataset, args.steps, args.warmup, args.probe)
        guis.append(g)
        delays += d
        print(f"  with GUI: {g:,.0f} img/s")
        heads.append(headless(cfg, dataset, args.steps, args.warmup))
        print(f"  headless: {heads[-1]:,.0f} img/s")
    ratios = [g / ((heads[i] + heads[i + 1]) / 2) for i, g in enumerate(guis)]
    ref = float(np.mean(heads))
    d = np.asarray(delays)
    print(f"headless {ref:,.0f} img/s, with GUI {np.mean(guis):,.0f} img/s: ratio "
          f"{np.median(ratios):.2f} (median of {', '.join(f'{r:.2f}' for r in ratios)}; "
          "target >= 0.8)")
    print(f"GUI 10 ms timer while training ({args.rounds} x {args.probe:g} s): {len(d)} ticks, "
          f"delay mean {d.mean():.1f} ms, p99 {np.percentile(d, 99):.1f} ms, "
          f"max {d.max():.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
