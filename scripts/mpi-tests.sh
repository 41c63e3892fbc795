#!/usr/bin/env bash
# The MPI part of the test command: installs Open MPI and libclang when missing (see
# ensure-deps.sh), builds the CLI with `--features mpi` and runs its tests under
# `mpirun -np 1|2|3|4` (tests/mpi_cli.rs; as root they pass --allow-run-as-root --oversubscribe).
# The default build and tests need none of this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh mpi
cargo test -p nabla-cli --features mpi --test mpi_cli "$@"
