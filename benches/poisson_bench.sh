#!/usr/bin/env bash
# Benchmarks nabla's Poisson solvers against scipy CG and pyamg on the same machine.
# Usage: benches/poisson_bench.sh [--quick] [--sizes 256x256,64x64x64] [--repeat N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" "$BENCH_DIR/poisson_bench.py" --nabla "$NABLA" "$@"
