#!/usr/bin/env bash
# Benchmarks nabla's AMG (--solver amg-pcg) against pyamg and AMGCL on unstructured
# finite-element Poisson matrices built with scikit-fem (cached in benches/out/amg/).
# Usage: benches/amg_bench.sh [--quick | --size small|large|both] [--families a,b,c,d]
#                             [--nabla-solvers amg-pcg,ic0-pcg] [--grids] [--repeat N]
#                             [--generate-only] [--regenerate] [--no-amgcl]
#        benches/amg_bench.sh --make-datasets [--check]    # datasets/fe_*.mtx (nabla's tests)
# See benches/amg_bench.py --help. Nothing is timed until the matrices exist: they are built
# once (small: ~1 minute in all, large: a few minutes) and cached in benches/out/amg/.
set -euo pipefail

if [ "${1:-}" = "--make-datasets" ]; then
    # Only needs the venv and scikit-fem, not a nabla build.
    shift
    BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    PY="$BENCH_DIR/.venv/bin/python"
    [ -x "$PY" ] || python3 -m venv "$BENCH_DIR/.venv"
    "$PY" -c "import numpy, scipy, skfem" 2>/dev/null \
        || "$PY" -m pip install --quiet numpy scipy scikit-fem
    exec "$PY" "$BENCH_DIR/make_fe_datasets.py" "$@"
fi

source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

# scikit-fem builds the meshes and matrices; fast_matrix_market writes and reads the large
# MatrixMarket files in seconds where scipy.io takes minutes.
if ! "$PY" -c "import skfem, fast_matrix_market" 2>/dev/null; then
    "$PY" -m pip install --quiet scikit-fem fast_matrix_market
fi

# AMGCL's Python binding (pyamgcl) is a source package: it compiles against the Boost headers
# (libboost-dev) with pybind11, and needs `wheel` to build in the venv (Python 3.11's venv ships
# setuptools 65, which has no bdist_wheel of its own). The build takes about a minute; if it
# fails, warn once and go on without the AMGCL column (delete the marker file to retry).
AMGCL_FAILED="$VENV/.pyamgcl-build-failed"
if ! "$PY" -c "import pyamgcl" 2>/dev/null; then
    if [ -e "$AMGCL_FAILED" ]; then
        echo "WARNING: pyamgcl did not build earlier (see $AMGCL_FAILED); running without AMGCL." \
             "Remove that file to try again." >&2
    else
        echo "building pyamgcl, AMGCL's Python binding (Boost headers + pybind11; about a minute)" >&2
        (
            set +e
            if [ ! -e /usr/include/boost/version.hpp ]; then
                if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
                    export DEBIAN_FRONTEND=noninteractive
                    apt-get install -y --no-install-recommends libboost-dev >/dev/null 2>&1 \
                        || { apt-get update >/dev/null 2>&1 \
                             && apt-get install -y --no-install-recommends libboost-dev >/dev/null 2>&1; }
                fi
                [ -e /usr/include/boost/version.hpp ] \
                    || { echo "Boost headers missing (apt-get install libboost-dev)"; exit 1; }
            fi
            "$PY" -m pip install --quiet wheel pybind11 || exit 1
            "$PY" -m pip install --quiet --no-build-isolation pyamgcl || exit 1
            "$PY" -c "import pyamgcl"
        ) >"$AMGCL_FAILED.log" 2>&1
        if "$PY" -c "import pyamgcl" 2>/dev/null; then
            rm -f "$AMGCL_FAILED.log"
        else
            mv "$AMGCL_FAILED.log" "$AMGCL_FAILED"
            echo "WARNING: could not build pyamgcl (AMGCL); running without the AMGCL column." \
                 "Last lines of the build log ($AMGCL_FAILED):" >&2
            tail -n 5 "$AMGCL_FAILED" | sed 's/^/    /' >&2
        fi
    fi
fi

exec "$PY" "$BENCH_DIR/amg_bench.py" --nabla "$NABLA" "$@"
