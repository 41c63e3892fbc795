#!/usr/bin/env bash
# Checks nabla's inverse-problem HDF5 layouts against h5py, both ways: folders written by
# `nabla datagen reaction-diffusion|kdv|darcy-inverse` open in h5py with exactly the layouts of
# datasets/README.md (names, shapes, dtypes, attributes; KdV mass and Darcy residuals
# recomputed with numpy), and files written by h5py in these layouts load in `nabla inspect`
# (bad ones fail with a one-line error and exit code 1).
# Usage: benches/inverse_h5py_check.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" "$BENCH_DIR/inverse_h5py_check.py" --nabla "$NABLA" "$@"
