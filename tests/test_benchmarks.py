"""The number handling of benchmarks/speed.py, the per-layer split of torch_reference.py, and
a short run of soak.py."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


speed = load("speed")


def run(ips, ms, layers):
    return {"images_per_second": ips, "ms_per_step": ms, "peak_memory_mb": ms * 10,
            "layers": {n: dict(zip(("forward_ms", "backward_ms"), t)) for n, t in layers.items()}}


def test_rest_is_the_step_outside_the_layers():
    assert speed.rest_ms(run(1, 10.0, {"a": (2.0, 3.0), "b": (1.0, 0.5)})) == pytest.approx(3.5)
    assert speed.rest_ms(run(1, 10.0, {"a": (2.0,)})) == pytest.approx(8.0)  # eval: no backward


def test_summary_takes_medians_per_number():
    runs = [run(100, 10.0, {"a": (1.0, 4.0)}), run(300, 12.0, {"a": (3.0, 2.0)}),
            run(200, 30.0, {"a": (2.0, 9.0)})]
    s = speed.summarize(runs)
    assert s["runs"] == 3 and s["images_per_second"] == 200 and s["ms_per_step"] == 12.0
    assert s["layers"]["a"] == {"forward_ms": 2.0, "backward_ms": 4.0}
    assert s["rest_ms"] == pytest.approx(7.0)  # medians of 5, 7, 19
    assert s["peak_memory_mb"] == 300.0
    assert speed.summarize([]) is None


def test_ratio_pairs_runs_done_side_by_side():
    ours = [run(100, 1, {}), run(50, 1, {}), run(90, 1, {})]
    theirs = [run(200, 1, {}), run(50, 1, {}), run(100, 1, {})]
    assert speed.paired_ratio(ours, theirs) == pytest.approx(0.9)  # median of .5, 1, .9
    assert speed.paired_ratio(ours, []) is None


def test_report_lines_with_and_without_torch():
    ours = [run(1000, 10.0, {"0.Conv2D": (2.0, 4.0), "1.ReLU": (1.0, 1.0)})]
    ours[0]["layers"]["0.Conv2D"]["algorithm"] = "im2col"
    theirs = [run(2000, 5.0, {"0.Conv2D": (1.0, 2.0), "1.ReLU": (0.5, 0.5)})]
    text = "\n".join(speed.report("lenet5", "train", 64, ours, theirs))
    assert "cnnviz bwd" in text and "torch bwd" in text and "im2col" in text
    assert "0.50" in text  # per-layer ratio: torch 3 ms / cnnviz 6 ms
    assert "ratio 0.50" in text and "rest 2.00" in text
    eval_run = [run(1000, 10.0, {"0.Conv2D": (2.0,)})]
    text = "\n".join(speed.report("lenet5", "eval", 256, eval_run, []))
    assert "bwd" not in text and "torch" not in text and "images/s: cnnviz 1000" in text


def test_torch_layers_split_forward_and_backward():
    pytest.importorskip("torch")
    ref = load("torch_reference")
    r = ref.bench("mlp", batch_size=8, steps=1, warmup=1, profile_steps=1)
    assert list(r["layers"]) == ["0.Flatten", "1.Dense", "2.ReLU", "3.Dense"]
    assert all(t["forward_ms"] > 0 for t in r["layers"].values())
    assert r["layers"]["1.Dense"]["backward_ms"] > 0
    e = ref.bench("mlp", batch_size=8, steps=1, warmup=1, evaluate=True, profile_steps=1)
    assert e["mode"] == "eval" and "backward_ms" not in e["layers"]["1.Dense"]


def test_soak_runs_every_action_and_ends_with_its_json_line(tmp_path):
    """benchmarks/soak.py end to end on a few generated digits: docks, digits, scrubs, two
    branches, saves and opens, autosaves, and a JSON line that adds up."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CNNVIZ_CACHE": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, str(BENCHMARKS / "soak.py"), "--steps", "60", "--synthetic", "1000",
         "--arch", "mlp", "--cycle", "0.3", "--scrub-every", "15", "--save-every", "25",
         "--timeline-every", "10", "--autosave-minutes", "0.01"],
        env=env, capture_output=True, text=True, timeout=120)
    result = json.loads(r.stdout.splitlines()[-1])
    assert r.returncode == (0 if result["pass"] else 1), r.stderr[-3000:]
    assert result["steps"] >= 60 and result["branches"] == 2
    assert result["saves"] == result["opens"] == 2 and result["scrubs"] >= 1
    assert result["docks"] == result["digits"] >= 1 and result["autosaves"] >= 1
    assert result["latency_ms"]["ticks"] > 100 and result["timeline_max_disk_mb"] > 0
    assert result["rss_end_mb"] > 0 and result["growth_mb"] == pytest.approx(
        result["rss_end_mb"] - result["rss_warmup_mb"], abs=0.2)
