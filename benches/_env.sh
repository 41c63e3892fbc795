# Shared set-up for the benches/ scripts; sourced, not run.
#
# Creates benches/.venv on first use (so the reference solvers never touch the system Python),
# installs the Python packages the comparison needs, and builds nabla in release mode so the
# timings are of optimised code. Exports NABLA (the binary) and PY (the venv's interpreter).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
VENV="$BENCH_DIR/.venv"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
fi
# Import check first, so a warm venv costs no pip round-trip (and works offline).
if ! "$PY" -c "import numpy, scipy, pyamg, h5py" 2>/dev/null; then
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet numpy scipy pyamg h5py
fi

(cd "$ROOT" && cargo build --release --quiet -p nabla-cli)
NABLA="$ROOT/target/release/nabla"
export NABLA PY ROOT BENCH_DIR
