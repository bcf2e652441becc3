"""A long run of the app: resident memory, timeline disk use and GUI latency while it is used.

The real main window (offscreen unless QT_QPA_PLATFORM says otherwise, 1600x1000) trains
cnn-bn with the default recipe while the script uses it as a person would: it raises every
dock in turn (cnnviz.app.docks.DOCKS) and chooses a test digit every --cycle seconds, scrubs
the timeline to a recorded moment and back to live every --scrub-every steps, branches from a
past moment at 1/3 and 2/3 of the run, saves a checkpoint and opens it again every
--save-every steps (in a temporary folder), and autosaves every --autosave-minutes. A 10 ms
QTimer in the GUI thread records how late it fires all along.

It reports the resident memory (RSS) after warm-up (--warmup of the steps) and at the end, its
maximum and growth, the timeline's disk use, the timer's delays, steps/s and wall time, and
ends with one JSON line. It passes (exit 0) when memory grows less than --max-growth MB after
warm-up.

    CNNVIZ_DATA=/path/to/mnist QT_QPA_PLATFORM=offscreen python benchmarks/soak.py [--steps 20000]
    python benchmarks/soak.py --steps 60 --synthetic 2000   # a smoke test on generated digits
    ... --trace 15   # a leak hunt: the allocation sites that grew most (tracemalloc, slower)
"""

from __future__ import annotations

import argparse
import array
import faulthandler
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> float:
    """This process's resident memory now (MB): /proc/self/status, else psutil."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError as exc:
        raise RuntimeError("soak: reading the resident memory needs /proc (Linux) or the "
                           "psutil package (pip install psutil)") from exc
    return psutil.Process().memory_info().rss / 2**20


class Pump:
    """Runs Qt's event loop (as the app does, no polling sleeps) until a condition holds,
    calling `tick()` every 50 ms. `messages` (the window's dialogs.messages) not empty stops
    it with an error; so does a timeout, or the run's `deadline` (time.monotonic()), saying
    `describe()`. One loop and one timer, reused: the harness itself must not grow."""

    def __init__(self, tick, messages: list, describe, deadline: float):
        from PySide6 import QtCore

        self.loop = QtCore.QEventLoop()
        self.timer = QtCore.QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._on_timer)
        self.tick, self.messages, self.describe = tick, messages, describe
        self.cond, self.end, self.deadline = None, 0.0, deadline

    def _on_timer(self) -> None:
        self.tick()
        if self.cond() or self.messages or time.monotonic() > self.end:
            self.loop.quit()

    def until(self, cond, what: str, timeout: float = 120.0) -> None:
        self.cond, self.end = cond, min(time.monotonic() + timeout, self.deadline)
        self.timer.start()
        self.loop.exec()
        self.timer.stop()
        if self.messages:
            raise RuntimeError(f"soak: waiting for {what}, the app said {self.messages}")
        if not cond():
            raise TimeoutError(f"soak: timed out waiting for {what} ({self.describe()})")

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        self.until(lambda: time.monotonic() >= end, "the end of the run", seconds + 5)


def print_growth(before, after, n: int) -> None:
    """The `n` allocation sites (tracebacks) whose memory grew most between two snapshots."""
    stats = after.compare_to(before, "traceback")
    print(f"memory grown by allocation site (tracemalloc; {len(stats)} sites):")
    for stat in stats[:n]:
        print(f"  {stat.size_diff / 2**20:+.1f} MB in {stat.count_diff:+d} blocks, "
              f"{stat.size / 2**20:.1f} MB now, at:")
        for line in stat.traceback.format(limit=4, most_recent_first=True):
            print(f"    {line}")


def load(args):
    if args.synthetic:
        from cnnviz.data.synthetic import synthetic_dataset

        return synthetic_dataset(args.synthetic, max(args.synthetic // 5, 100))
    from cnnviz.data.sources import load_dataset

    return load_dataset(args.data)


def main(argv=None) -> int:
    import numpy as np
    from PySide6 import QtCore

    from cnnviz.training import TrainConfig
    from cnnviz.training.driver import RUNNING, TIMELINE_EVERY

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20000, help="training steps in all")
    p.add_argument("--arch", default="cnn-bn")
    p.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    p.add_argument("--data", metavar="DIR", help="IDX folder (default: CNNVIZ_DATA or MNIST)")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="train on N generated digits instead (cnnviz.data.synthetic)")
    p.add_argument("--cycle", type=float, default=3.0,
                   help="seconds between raising the next dock (and choosing a digit)")
    p.add_argument("--scrub-every", type=int, default=1000, help="steps between scrubs")
    p.add_argument("--save-every", type=int, default=4000,
                   help="steps between saving a checkpoint and opening it")
    p.add_argument("--timeline-every", type=int, default=TIMELINE_EVERY,
                   help="steps between timeline moments (the app's default)")
    p.add_argument("--autosave-minutes", type=float, default=1.0)
    p.add_argument("--warmup", type=float, default=0.1,
                   help="fraction of the steps after which memory is the baseline")
    p.add_argument("--max-growth", type=float, default=100.0, help="MB: the pass criterion")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds for the whole run")
    p.add_argument("--trace", type=int, default=0, metavar="N",
                   help="hunt a leak: tracemalloc (slower) prints the N allocation sites "
                        "whose memory grew most from warm-up to the end")
    args = p.parse_args(argv)
    faulthandler.enable()  # a crash during hours of running says where
    if args.trace:
        tracemalloc.start(8)

    from cnnviz.app.docks import DOCKS
    from cnnviz.app.main import create_app

    work = Path(tempfile.mkdtemp(prefix="cnnviz-soak-"))
    os.environ["CNNVIZ_STATE"] = str(work / "state")  # autosaves never touch the user's
    from cnnviz.app.main_window import MainWindow

    app = create_app([sys.argv[0]])
    dataset = load(args)
    cfg = TrainConfig(arch=args.arch, batch_size=args.batch_size)
    cfg.val_size = min(cfg.val_size, len(dataset.train_labels) // 10)
    per_epoch = math.ceil((len(dataset.train_labels) - cfg.val_size) / cfg.batch_size)
    cfg.epochs = args.steps // per_epoch + 2  # the one-cycle schedule spans about the run
    settings = QtCore.QSettings(str(work / "cnnviz.ini"), QtCore.QSettings.Format.IniFormat)
    settings.setValue("timeline/every", args.timeline_every)
    settings.setValue("autosave/minutes", args.autosave_minutes)
    print(f"soak: {args.arch}, batch {cfg.batch_size}, {args.steps} steps ({cfg.epochs} epochs "
          f"of {per_epoch}) on {dataset!r}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    w = MainWindow(dataset=dataset, config=cfg, settings=settings)
    w.resize(1600, 1000)
    w.show()
    c, tl = w.controller, w.panels["timeline"]
    rng = random.Random(0)
    n = {"docks": 0, "digits": 0, "scrubs": 0, "branches": 0, "saves": 0, "opens": 0,
         "autosaves": 0}
    seen = {"session": "", "saved": "", "disk_mb": 0.0, "max_disk_mb": 0.0, "memory_mb": 0.0}
    state_dir = str(work / "state")

    def on_saved(path: str) -> None:
        if path.startswith(state_dir):
            n["autosaves"] += 1
        else:
            seen["saved"] = path

    def on_updates(u) -> None:
        if u.timeline is not None:
            seen["disk_mb"], seen["memory_mb"] = u.timeline.disk_mb, u.timeline.memory_mb
            seen["max_disk_mb"] = max(seen["max_disk_mb"], u.timeline.disk_mb)

    c.sigSessionReady.connect(lambda info: seen.__setitem__("session", info.reason))
    c.sigSaved.connect(on_saved)
    c.sigUpdates.connect(on_updates)

    delays = array.array("f")  # ms late, per tick of the 10 ms probe (4 bytes each)
    last_tick = [0.0]

    def on_probe() -> None:
        now = time.perf_counter()
        if last_tick[0]:
            delays.append((now - last_tick[0]) * 1e3 - 10)
        last_tick[0] = now

    probe = QtCore.QTimer()
    probe.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(on_probe)

    mem = {"warm": None, "max": 0.0, "at": 0.0, "timeline_warm": 0.0, "snapshot": None}
    count = {"done": 0, "prev": 0}
    warm_steps = max(int(args.steps * args.warmup), 1)

    def tick() -> None:
        """Steps trained so far (a branch goes back: only forward steps count); peak RSS."""
        session = w.controller.worker.driver.session  # read only: its step count, an int
        if session is not None:
            count["done"] += max(session.step_count - count["prev"], 0)
            count["prev"] = session.step_count
        now = time.monotonic()
        if now - mem["at"] >= 1.0:
            mem["at"] = now
            mem["max"] = max(mem["max"], rss_mb())

    pump = Pump(tick, w.dialogs.messages, lambda: (
        f"{c.state}, busy {c.busy!r}, last session {seen['session']!r}, "
        f"{count['done']} steps done"), time.monotonic() + args.timeout)

    def running() -> bool:
        return c.state == RUNNING and not c.busy

    def quiet_rss() -> float:
        """RSS once paused and settled (no inspection half done): warm-up and end alike."""
        w.pause()
        pump.until(lambda: c.state != RUNNING and not c.busy, "the pause")
        pump.wait(1.0)
        return rss_mb()

    def keep_running() -> None:
        """Start again when the run has stopped; with two more epochs when it is complete
        (waits run on, and a branch goes back)."""
        if c.state == RUNNING or c.busy:
            return
        if w.controller.worker.driver.session.finished:  # read only
            more = w.current_config()
            more.epochs += 2
            w.panels["controls"].set_config(more)
        w.start()

    def scrub() -> bool:
        """To a random recorded moment for half a second, then live (when there is one)."""
        steps = tl.steps()
        if not steps:
            return True  # nothing to scrub to right after an open: skip
        tl.select_step(rng.choice(steps))
        pump.until(lambda: w.state.moment is not None, "a timeline moment")
        pump.wait(0.5)
        tl.go_live()
        n["scrubs"] += 1
        return True

    def branch() -> bool:
        """From the moment 3/4 of the way along the timeline; False when none is recorded."""
        steps = tl.steps()
        if not steps:
            return False
        tl.select_step(steps[len(steps) * 3 // 4])
        pump.until(lambda: w.state.moment is not None, "the moment to branch from")
        seen["session"] = ""
        tl.branch()
        pump.until(lambda: seen["session"].startswith("branched") and not c.busy, "the branch")
        n["branches"] += 1
        return True

    def save_and_open() -> None:
        path = str(work / f"soak-{n['saves'] % 2}.npz")
        seen["saved"] = seen["session"] = ""
        w.save_checkpoint(path)
        n["saves"] += 1
        pump.until(lambda: seen["saved"] == path, "the checkpoint to be saved")
        w.open_checkpoint(path)
        pump.until(lambda: seen["session"] == f"opened {path}" and not c.busy
                   and not tl.steps(), "the checkpoint to be opened (and its new timeline)")
        n["opens"] += 1

    try:
        pump.until(lambda: w.act["start"].isEnabled(), "the session")
        probe.start()
        t0 = time.monotonic()
        w.start()
        pump.until(running, "training")
        # (steps done, action): each runs once when its step is reached, in order, however
        # fast training overtakes the plan; a branch waits for a recorded moment
        plan = sorted([(k, scrub) for k in range(args.scrub_every, args.steps,
                                                  args.scrub_every)]
                      + [(k, save_and_open) for k in range(args.save_every, args.steps,
                                                           args.save_every)]
                      + [(args.steps // 3, branch), (2 * args.steps // 3, branch)],
                      key=lambda row: row[0])
        next_dock = time.monotonic()
        report_every, next_report = max(args.steps // 20, 1), 0
        while plan or count["done"] < args.steps:
            pump.wait(0.2)
            keep_running()
            if time.monotonic() >= next_dock:
                w.docks[DOCKS[n["docks"] % len(DOCKS)].key].raise_()
                w.choose_digit(rng.randrange(len(dataset.test_labels)))
                n["docks"] += 1
                n["digits"] += 1
                next_dock = time.monotonic() + args.cycle
            if mem["warm"] is None and count["done"] >= warm_steps:
                mem["warm"], mem["timeline_warm"] = quiet_rss(), seen["memory_mb"]
                if args.trace:
                    mem["snapshot"] = tracemalloc.take_snapshot()
                print(f"  warm-up done at {count['done']} steps: RSS {mem['warm']:.0f} MB "
                      f"(timeline {seen['memory_mb']:.0f} MB)", flush=True)
                w.start()
            if plan and plan[0][0] <= count["done"]:
                at, action = plan.pop(0)
                if action() is False:  # no moment to branch from yet
                    plan.insert(0, (at, action))
            if count["done"] >= next_report:
                print(f"  {count['done']}/{args.steps} steps, {time.monotonic() - t0:.0f} s, "
                      f"RSS {rss_mb():.0f} MB, timeline {seen['disk_mb']:.1f} MB on disk",
                      flush=True)
                next_report += report_every
        wall = time.monotonic() - t0
        probe.stop()
        end = quiet_rss()
        if args.trace and mem["snapshot"] is not None:
            print_growth(mem["snapshot"], tracemalloc.take_snapshot(), args.trace)
    finally:
        w.close()
        app.processEvents()
        shutil.rmtree(work, ignore_errors=True)

    d = np.asarray(delays, np.float64) if len(delays) else np.full(1, np.nan)
    warm = mem["warm"] if mem["warm"] is not None else end
    result = {
        "steps": count["done"], "wall_s": round(wall, 1),
        "steps_per_s": round(count["done"] / wall, 2), "arch": args.arch,
        "batch_size": cfg.batch_size, "data": dataset.name,
        "rss_warmup_mb": round(warm, 1), "rss_end_mb": round(end, 1),
        "rss_max_mb": round(max(mem["max"], end), 1), "growth_mb": round(end - warm, 1),
        "timeline_memory_mb": [round(mem["timeline_warm"], 1), round(seen["memory_mb"], 1)],
        "max_growth_mb": round(max(mem["max"], end) - warm, 1),
        "timeline_disk_mb": round(seen["disk_mb"], 1),
        "timeline_max_disk_mb": round(seen["max_disk_mb"], 1),
        "latency_ms": {"mean": round(float(d.mean()), 2),
                       "p99": round(float(np.percentile(d, 99)), 2),
                       "max": round(float(d.max()), 2), "ticks": len(delays)},
        **n,
    }
    result["pass"] = result["growth_mb"] < args.max_growth
    print(f"{result['steps']} steps in {wall:.0f} s ({result['steps_per_s']} steps/s); RSS "
          f"{warm:.0f} MB after warm-up, {end:.0f} MB at the end (max {result['rss_max_mb']:.0f}"
          f" MB): growth {end - warm:+.0f} MB ({'PASS' if result['pass'] else 'FAIL'}: "
          f"< {args.max_growth:g} MB)")
    print(f"timeline: {mem['timeline_warm']:.0f} MB of moments in memory after warm-up, "
          f"{seen['memory_mb']:.0f} MB at the end (bounded by its budget)")
    print(f"timeline {seen['disk_mb']:.1f} MB on disk (max {seen['max_disk_mb']:.1f} MB); GUI "
          f"10 ms timer: delay mean {d.mean():.1f} ms, p99 {np.percentile(d, 99):.1f} ms, max "
          f"{d.max():.1f} ms over {len(delays)} ticks")
    print(f"did: {', '.join(f'{v} {k}' for k, v in n.items())}")
    print(json.dumps(result), flush=True)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
