#!/usr/bin/env bash
# The Python module's tests: creates python/.venv if missing, installs the test tools there,
# builds and installs the module (`pip install ./python`: maturin, release mode), builds the
# `nabla` CLI (the tests compare predictions with `nabla eval`), and runs pytest.
# Extra arguments go to pytest (e.g. -k wos). Compiled dependencies are shared with the
# workspace through CARGO_TARGET_DIR (default: the repository's target/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=python/.venv

if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 not found; install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    echo "error: $(python3 --version) is too old; the nabla module needs Python 3.9 or newer" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        echo "error: python3 cannot create a virtual environment; install the venv module" \
             "(Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
py="$root/$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check maturin numpy scipy pytest h5py meshio \
    scikit-fem pyamg matplotlib

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# maturin is run by pip as the build backend; it must be on PATH (the venv's bin).
export PATH="$root/$venv/bin:$PATH"
start=$(date +%s)
"$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
echo "python module built and installed in $(( $(date +%s) - start )) s"
cargo build --quiet -p nabla-cli
export NABLA_BIN=${NABLA_BIN:-$CARGO_TARGET_DIR/debug/nabla}
# The installed module is tested (the pytest script does not put python/ on sys.path, where
# the package source without its compiled part would shadow it).
"$root/$venv/bin/pytest" python/tests "$@"
