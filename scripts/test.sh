#!/usr/bin/env bash
# The README's second command: installs what is missing, then runs the whole test suite
# (unit, integration, CLI and doc tests of every crate), then the five journey examples built
# and run from a crate outside the workspace (scripts/outside-crate.sh), then the Python
# module's pytest suite (scripts/python-tests.sh: a venv under python/.venv, the module built by
# pip/maturin).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo test --workspace "$@"
scripts/outside-crate.sh
scripts/python-tests.sh
