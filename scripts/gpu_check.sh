#!/usr/bin/env bash
# The GPU figures of README: the test suite on the cupy backend (all of it but the app's tests,
# which need Qt), then benchmarks/speed.py --gpu (cnnviz on cupy against PyTorch CUDA).
#
#   scripts/gpu_check.sh MNIST_DIR OUT_DIR [WHEELS_DIR]
#
# MNIST_DIR holds the four IDX files; OUT_DIR receives the logs, junit.xml and speed_gpu.json;
# WHEELS_DIR (optional) holds wheels of missing pure-Python dependencies (tqdm, platformdirs)
# for a machine without network. Needs a CUDA GPU with cupy, and torch for the comparison.
set -uo pipefail
cd "$(dirname "$0")/.."
mnist=$(cd "$1" && pwd); out=$(mkdir -p "$2" && cd "$2" && pwd); wheels=${3:-}
if [ -n "$wheels" ]; then
  python3 -m pip install --quiet --no-index --no-deps "$wheels"/*.whl 2>/dev/null \
    || python3 -m pip install --quiet --no-index --no-deps --user --break-system-packages \
         "$wheels"/*.whl \
    || { python3 -m pip install --quiet --no-index --no-deps --target "$out/site" \
           "$wheels"/*.whl && export PYTHONPATH="$out/site"; }
fi
{ nvidia-smi -L; python3 -c "import sys, numpy, cupy, torch; print(sys.version.split()[0],
  'numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"; } \
  2>&1 | tee "$out/machine.txt"
export CNNVIZ_BACKEND=cupy CNNVIZ_DATA="$mnist" CNNVIZ_CACHE="$out/cache"
start=$(date +%s)
timeout "${SUITE_TIMEOUT:-300}" python3 -m pytest -q -p no:cacheprovider --ignore=tests/app \
  -rfEs --junitxml="$out/junit.xml" > "$out/pytest.txt" 2>&1
echo "pytest exit $? after $(( $(date +%s) - start )) s"; tail -n 40 "$out/pytest.txt"
start=$(date +%s)
timeout "${SPEED_TIMEOUT:-240}" python3 benchmarks/speed.py --gpu --repeat "${REPEAT:-3}" \
  --json "$out/speed_gpu.json" > "$out/speed_gpu.txt" 2> "$out/speed_gpu.err"
echo "speed.py exit $? after $(( $(date +%s) - start )) s"; cat "$out/speed_gpu.txt"
tail -n 5 "$out/speed_gpu.err"
