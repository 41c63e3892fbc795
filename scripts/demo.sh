#!/usr/bin/env bash
# The README's first command: installs what is missing, builds nabla, and solves the built-in
# default problem (2-D Poisson on a 512x512 grid, random right-hand side, multigrid-PCG),
# writing demo/solution.h5, demo/report.json, demo/solution.png and demo/history.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo build --release --quiet -p nabla-cli
mkdir -p demo
exec target/release/nabla poisson --grid 512x512 --solver mg-pcg --rhs random --seed 1 \
  --out demo/solution.h5 --report demo/report.json --plot demo/solution.png \
  --history-plot demo/history.png "$@"
