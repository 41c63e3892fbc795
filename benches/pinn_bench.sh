#!/usr/bin/env bash
# Benchmarks nabla's PINN training (2-D Poisson) against DeepXDE (PyTorch backend, CPU).
# Usage: benches/pinn_bench.sh [--recipes adam,adam-lbfgs] [--max-adam-steps N]
#                              [--max-lbfgs-iters N] [--skip-deepxde | --only-deepxde]
# See benches/pinn_bench.py for what is measured. The DeepXDE runs take several minutes on 2 cores.
set -euo pipefail

only_deepxde=0
for arg in "$@"; do
    [ "$arg" = "--only-deepxde" ] && only_deepxde=1
done

if [ "$only_deepxde" = 1 ]; then
    # nabla is not run, so skip _env.sh's release build; set up the same venv it would.
    BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    ROOT="$(cd "$BENCH_DIR/.." && pwd)"
    VENV="$BENCH_DIR/.venv"
    PY="$VENV/bin/python"
    if [ ! -x "$PY" ]; then
        echo "creating $VENV" >&2
        python3 -m venv "$VENV"
    fi
    if ! "$PY" -c "import numpy, scipy, pyamg, h5py" 2>/dev/null; then
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet numpy scipy pyamg h5py
    fi
    NABLA=""
else
    source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
fi

# Before anything imports deepxde: without it, deepxde picks a backend and writes
# ~/.deepxde/config.json.
export DDE_BACKEND=pytorch

# torch (CPU) and DeepXDE into the same venv, only when missing. The CPU-only wheel index is
# tried first (much smaller download); where it cannot be reached, the PyPI wheel (which also
# pulls CUDA libraries, a few GB, unused here) works on the CPU all the same.
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "installing torch into $VENV" >&2
    if ! "$PY" -m pip install --quiet --timeout 20 --retries 0 \
            --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null; then
        echo "the CPU wheel index is unreachable; installing torch from PyPI (large)" >&2
        "$PY" -m pip install --quiet torch
    fi
fi
if ! "$PY" -c "import deepxde, tomli_w" 2>/dev/null; then
    "$PY" -m pip install --quiet deepxde tomli_w
fi

if [ "$only_deepxde" = 1 ]; then
    exec "$PY" "$BENCH_DIR/pinn_bench.py" "$@"
fi
exec "$PY" "$BENCH_DIR/pinn_bench.py" --nabla "$NABLA" "$@"
