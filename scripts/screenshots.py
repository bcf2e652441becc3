"""Screenshots of the app for the docs: the whole window and each panel, as PNGs.

Opens the real main window (offscreen unless QT_QPA_PLATFORM says otherwise) at 1600x1000,
trains a few hundred steps on the data it finds (CNNVIZ_DATA, the cache, or a download),
evaluates the test set, opens the gallery of the most confused pair of classes, chooses a
misclassified digit, fills the inspection docks (what it wants: one input per class; an
attack toward a third class, and attack all), and writes docs/images/window.png and
docs/images/panel-<name>.png. Then it scrubs the timeline back (window-timeline.png) and
branches from there with a lower learning rate (panel-curves-branch.png).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--steps 300] [--arch cnn-bn]
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="training steps before the shots")
    p.add_argument("--arch", default="cnn-bn")
    p.add_argument("--data", metavar="DIR", help="IDX folder (default: CNNVIZ_DATA or MNIST)")
    p.add_argument("--out", default=str(ROOT / "docs" / "images"))
    p.add_argument("--timeout", type=float, default=1800, help="seconds")
    args = p.parse_args(argv)

    from PySide6 import QtCore

    from cnnviz.app.main import create_app
    from cnnviz.app.main_window import MainWindow
    from cnnviz.data.dataset import DataUnavailableError
    from cnnviz.data.sources import load_dataset
    from cnnviz.training import TrainConfig

    app = create_app([sys.argv[0]])
    try:
        dataset = load_dataset(args.data)
    except (DataUnavailableError, OSError, ValueError) as exc:
        print(f"screenshots: no data: {exc}", file=sys.stderr)
        return 1
    print(f"data: {dataset!r}")

    deadline = time.monotonic() + args.timeout

    def wait_until(cond, what, poll=0.02):
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(poll)

    def settle(seconds=0.3):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    settings_dir = tempfile.mkdtemp(prefix="cnnviz-shots-")
    settings = QtCore.QSettings(os.path.join(settings_dir, "cnnviz.ini"),
                                QtCore.QSettings.Format.IniFormat)
    settings.setValue("timeline/every", max(args.steps // 6, 1))
    cfg = TrainConfig(arch=args.arch, epochs=2)
    w = MainWindow(dataset=dataset, config=cfg, settings=settings)
    w.resize(1600, 1000)
    w.show()
    try:
        wait_until(lambda: w.act["start"].isEnabled(), "the session")
        collected = []
        w.controller.sigUpdates.connect(collected.append)
        t0 = time.monotonic()
        w.start()

        def trained():
            return w.controller.last_step.step if w.controller.last_step is not None else 0

        for target in [*range(50, args.steps, 50), args.steps]:
            wait_until(lambda t=target: trained() >= t, "training")
            print(f"  step {trained()}/{args.steps} ({time.monotonic() - t0:.0f} s)",
                  flush=True)
        w.pause()
        wait_until(lambda: w.controller.state == "paused", "pause")
        settle(0.3)
        print(f"trained {trained()} steps in {time.monotonic() - t0:.0f} s")

        collected.clear()
        w.evaluate()
        wait_until(lambda: any(u.evaluation is not None for u in collected), "the evaluation")
        ev = [u.evaluation for u in collected if u.evaluation is not None][-1]
        print(f"test accuracy {ev.accuracy:.2%} on {len(ev.labels)} digits")
        w.flush_panels()

        # the most confused pair of classes, and its most confident mistake
        conf = ev.confusion.copy()
        conf[range(len(conf)), range(len(conf))] = 0
        true, pred = divmod(int(conf.argmax()), conf.shape[1])
        w.panels["confusion"].select_cell(true, pred)
        collected.clear()
        if w.panels["confusion"].gallery_indices():
            w.panels["confusion"].choose_gallery_item(0)  # -> the chosen digit
        else:
            w.panels["digits"].choose_index(0)
        wait_until(lambda: any(u.activations is not None for u in collected), "activations")
        w.flush_panels()
        w.panels["curves"].show_values_at(trained() * 0.6)
        settle(1.0)
        w.flush_panels()
        settle(0.3)

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        shots = [w.export_png(out / "window.png")]
        filled = {"attribution": lambda: w.panels["attribution"].shown(),
                  "top_digits": lambda: w.panels["top_digits"].shown_indices(),
                  "embedding": lambda: range(w.panels["embedding"].num_points),
                  "debugger": lambda: w.panels["debugger"].rows(),
                  "preferred": lambda: [] if w.panels["preferred"].busy() else [
                      w.panels["preferred"].shown()] if w.panels["preferred"].shown() else [],
                  "attack": lambda: [w.panels["attack"].shown()] if w.panels["attack"].shown()
                  else []}
        for key, dock in w.docks.items():
            front = [d for d in w.tabifiedDockWidgets(dock) if not d.visibleRegion().isEmpty()]
            if dock.visibleRegion().isEmpty():  # a tab behind another (Architecture, ...)
                dock.raise_()
                settle(0.3)
            if key == "debugger":  # layer statistics come with the steps taken while seen
                for _ in range(30):
                    w.step_batch()
                    settle(0.05)
            if key in filled:
                wait_until(lambda k=key: len(filled[k]()) > 0, key)
                if key == "top_digits":
                    w.panels["top_digits"].choose(0)
                if key == "attack":  # toward a third class, then over 100 test digits
                    w.panels["attack"].choose_target(
                        next(k for k in range(10) if k not in (true, pred)))
                    wait_until(lambda: w.panels["attack"].shown().target not in (true, pred),
                               "the attack")
                    w.panels["attack"].attack_all()
                    wait_until(w.panels["attack"].all_button.isEnabled, "attack all")
                if key == "embedding":  # as hovering over a point
                    wrong = (ev.predictions != ev.labels)[: w.panels["embedding"].num_points]
                    w.panels["embedding"].hover_point(int(wrong.argmax()))  # a mistake, when any
                settle(0.5)
                w.flush_panels()
                settle(0.3)
            shots.append(w.export_png(out / f"panel-{key}.png", key))
            for d in front:
                d.raise_()
            settle(0.2)

        # back in time: the panels show a recorded moment
        steps = w.panels["timeline"].steps()
        w.panels["timeline"].select_step(steps[len(steps) // 3])
        wait_until(lambda: w.state.moment is not None, "the timeline moment")
        settle(0.5)
        w.flush_panels()
        settle(0.3)
        shots.append(w.export_png(out / "window-timeline.png"))
        shots.append(w.export_png(out / "panel-timeline.png", "timeline"))

        # branch from there with a tenth of the learning rate, and train as far again
        cfg = w.current_config()
        cfg.lr /= 10
        w.panels["controls"].set_config(cfg)
        end = trained()
        branched = []
        w.controller.sigSessionReady.connect(branched.append)
        w.panels["timeline"].select_step(steps[len(steps) // 2])
        w.panels["timeline"].branch()
        wait_until(lambda: branched and trained() >= end, "the branch")
        w.pause()
        wait_until(lambda: w.controller.state == "paused", "pause")
        settle(0.5)
        w.flush_panels()
        settle(0.3)
        shots.append(w.export_png(out / "panel-curves-branch.png", "curves"))
        for path in shots:
            print(f"wrote {path}")
    finally:
        w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
