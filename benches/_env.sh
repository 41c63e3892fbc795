# Shared set-up for the benches/ scripts; sourced, not run.
#
# Creates benches/.venv on first use (so the reference solvers never touch the system Python),
# installs the Python packages the comparison needs, and builds nabla in release mode so the
# timings are of optimised code. Exports NABLA (the binary) and PY (the venv's interpreter).
# NABLA_BENCH_NO_AVX512=1: the binary of the path without AVX-512 (below).

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

# NABLA_BENCH_NO_AVX512=1 measures the code path of CPUs without AVX-512 on a machine that has
# it: nabla's own kernels skip their AVX-512 versions (NABLA_NO_AVX512=1, read at run time) and
# matrixmultiply, whose AVX-512 kernels are chosen by its own run-time detection, is built with
# only its AVX2/FMA ones (its compile-time MMTEST_FEATURE), into target/no-avx512/.
if [ "${NABLA_BENCH_NO_AVX512:-0}" = 1 ]; then
    export NABLA_NO_AVX512=1
    (cd "$ROOT" && MMTEST_FEATURE=sse2,avx,avx2,fma CARGO_TARGET_DIR="$ROOT/target/no-avx512" \
        cargo build --release --quiet -p nabla-cli)
    NABLA="$ROOT/target/no-avx512/release/nabla"
else
    (cd "$ROOT" && cargo build --release --quiet -p nabla-cli)
    NABLA="$ROOT/target/release/nabla"
fi
export NABLA PY ROOT BENCH_DIR
