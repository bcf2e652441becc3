"""Does the default recipe learn MNIST? Full runs of cnn-bn and lenet5, test accuracy and memory.

    CNNVIZ_DATA=path/to/mnist python benchmarks/learning.py [--arch cnn-bn lenet5]

Each run is `python -m cnnviz train --json` with the defaults (2 epochs) in its own process,
so peak memory is that of a full-MNIST run. Targets: cnn-bn >= 99.0%, lenet5 >= 98.5%,
peak memory < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

TARGETS = {"cnn-bn": 0.990, "lenet5": 0.985}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", nargs="+", default=list(TARGETS))
    ap.add_argument("extra", nargs="*", help="more flags for `cnnviz train`")
    args = ap.parse_args()
    ok = True
    for arch in args.arch:
        cmd = [sys.executable, "-m", "cnnviz", "train", "--arch", arch, "--json", *args.extra]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        target = TARGETS.get(arch, 0)
        ok &= r["test_accuracy"] >= target
        print(f"{arch}: test accuracy {r['test_accuracy']:.4f} (target {target:.3f}) after "
              f"{r['epochs']} epochs, {r['seconds']:.0f}s, {r['images_per_second']:.0f} img/s, "
              f"peak {r['peak_memory_mb']:.0f} MB | {json.dumps(r)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
