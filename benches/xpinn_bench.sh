#!/usr/bin/env bash
# Issue 26, first target: multi-domain PINNs on 2-D Poisson (−Δu = 2π² sin πx sin πy on [0,1]²)
# against the single-domain PINN at the same total parameter count (~8.6k), points (2000
# interior, 400 boundary), steps (300 Adam + 5000 L-BFGS) and loss weights (boundary 20, as the
# METALIC authors). Prints a markdown table (also benches/out/xpinn_bench.md): relative L2 on
# the 101² grid, its ratio to the single-domain error (target ≤ 2), ms/step, parameters.
# Usage: benches/xpinn_bench.sh     (~6 min on 2 cores, release build)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p nabla-cli
nabla=target/release/nabla
out=benches/out/xpinn
mkdir -p "$out"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
runs=(
  "single domain [64,64,64]|configs/pinn_poisson2d.toml|--set loss.boundary_weight=20"
  "2 pieces (x), solution+flux|configs/xpinn_poisson2d.toml|"
  "2 pieces (x), solution+flux+tangent|configs/xpinn_poisson2d.toml|--set domains.interface=[\"solution\",\"flux\",\"tangent\"]"
  "4 pieces (2x2), solution+flux|configs/xpinn_poisson2d.toml|--set domains.split=[2,2] --set model.hidden=[31,31,31]"
  "4 pieces (2x2), solution+flux+tangent|configs/xpinn_poisson2d.toml|--set domains.split=[2,2] --set model.hidden=[31,31,31] --set domains.interface=[\"solution\",\"flux\",\"tangent\"]"
)
k=0
for spec in "${runs[@]}"; do
    IFS='|' read -r name config flags <<<"$spec"
    dir="$out/run$k"; k=$((k + 1))
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$nabla" train "$config" $flags --set train.progress=false --out "$dir" >"$out/log$k.txt" 2>&1 \
        || { echo "run failed: $name (see $out/log$k.txt)" >&2; exit 1; }
    echo "$name" >"$dir/name.txt"
    echo "done: $name" >&2
done
python3 - "$out" "$k" <<'PY' | tee benches/out/xpinn_bench.md
import json, sys
out, count = sys.argv[1], int(sys.argv[2])
rows = [(open(f"{out}/run{k}/name.txt").read().strip(), json.load(open(f"{out}/run{k}/summary.json"))) for k in range(count)]
base = rows[0][1]["rel_l2"]
print("| run | parameters | rel. L2 (101² grid) | / single domain | ms/step |")
print("|---|---|---|---|---|")
for name, s in rows:
    print(f"| {name} | {s['parameters']} | {s['rel_l2']:.3e} | {s['rel_l2'] / base:.2f} | {1e3 * s['seconds_per_step']:.2f} |")
best2 = min(s["rel_l2"] for n, s in rows if n.startswith("2 pieces"))
best4 = min(s["rel_l2"] for n, s in rows if n.startswith("4 pieces"))
print(f"\nbest 2-piece / single: {best2 / base:.2f}; best 4-piece / single: {best4 / base:.2f} (target ≤ 2)")
PY
