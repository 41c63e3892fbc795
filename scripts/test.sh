#!/usr/bin/env bash
# The README's second command: installs what is missing, then runs the whole test suite
# (unit, integration, CLI and doc tests of every crate).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
exec cargo test --workspace "$@"
