#!/usr/bin/env bash
# Checks every nabla solver's output files against an independent scipy residual computation.
# Usage: benches/verify_solutions.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" "$BENCH_DIR/verify_solutions.py" --nabla "$NABLA" "$@"
