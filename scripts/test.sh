#!/usr/bin/env bash
# The README's second command: installs what is missing, then runs the whole test suite
# (unit, integration, CLI and doc tests of every crate), then the five journey examples built
# and run from a crate outside the workspace (scripts/outside-crate.sh), then the Python
# module's pytest suite (scripts/python-tests.sh: a venv under python/.venv, the module built by
# pip/maturin), then the MPI tests (scripts/mpi-tests.sh: Open MPI installed when missing, the
# CLI built with --features mpi and run under mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
# nabla-mpi links Open MPI; scripts/mpi-tests.sh builds and tests it once MPI is installed.
cargo test --workspace --exclude nabla-mpi "$@"
scripts/outside-crate.sh
scripts/python-tests.sh
scripts/mpi-tests.sh
