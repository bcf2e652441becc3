"""Training throughput of cnnviz against PyTorch CPU on the same architectures and machine.

    python benchmarks/speed.py [--steps 200] [--torch-python /path/to/python-with-torch]

Runs `cnnviz bench` for cnn-bn and lenet5 at batch 64 and, when a Python with torch is
given (or torch imports here), benchmarks/torch_reference.py; prints one row per architecture.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_json(cmd: list[str]) -> list[dict]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--arch", nargs="+", default=["cnn-bn", "lenet5"])
    ap.add_argument("--torch-python", help="a Python interpreter that has torch installed")
    args = ap.parse_args()
    torch_py = args.torch_python
    if torch_py is None:
        try:
            import torch  # noqa: F401

            torch_py = sys.executable
        except ImportError:
            pass
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{'arch':<8}{'cnnviz img/s':>14}{'torch img/s':>13}{'ratio':>8}{'peak MB':>9}")
    for arch in args.arch:
        ours = run_json([sys.executable, "-m", "cnnviz", "bench", "--arch", arch, "--json",
                         "--steps", str(args.steps), "--batch-size", str(args.batch_size)])[0]
        theirs = None
        if torch_py:
            theirs = run_json([torch_py, str(HERE / "torch_reference.py"), "--arch", arch,
                               "--steps", str(args.steps), "--batch-size",
                               str(args.batch_size)])[0]["images_per_second"]
        ratio = f"{ours['images_per_second'] / theirs:.2f}" if theirs else "-"
        print(f"{arch:<8}{ours['images_per_second']:>14.0f}{theirs or float('nan'):>13.0f}"
              f"{ratio:>8}{ours['peak_memory_mb']:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
