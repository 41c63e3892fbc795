#!/usr/bin/env bash
# Issue 24: the point-query (GINO-style) operator trained on Walk-on-Spheres estimates vs
# physics-informed (autograd Laplacian through the decoder) vs exact labels, at equal steps,
# with a small learning-rate sweep for each and the physics loss at the WoS-NO authors' weights
# and two others. Prints a markdown table (also benches/out/gino_wosno.md): held-out relative L2
# (in-distribution and zero-shot), their ratio, s/step, peak RSS.
#
# Usage: benches/gino_wosno.sh [--steps N] [--quick]
#   --steps N   optimizer steps per run (default 600, the shipped configs')
#   --quick     one learning rate per method (5e-3) instead of the sweep
# Runs one after another on all cores (release build); ~20 min at 600 steps on 2 cores.
# The held-out truths (100 in-distribution, 100 zero-shot instances) are computed once into
# benches/out/gino/truth*.h5 and copied into every run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=600
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet -p nabla-cli
nabla=target/release/nabla
out=benches/out/gino
mkdir -p "$out"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$quick" = 1 ]; then lrs="5e-3"; else lrs="2e-3 5e-3 1e-2"; fi
# name | config | extra --set flags
runs=()
for lr in $lrs; do
    runs+=("wos lr=$lr|configs/gino_wosno_poisson.toml|--set train.lr=$lr")
    runs+=("physics 0.01/1 (authors') lr=$lr|configs/gino_pino_poisson.toml|--set train.lr=$lr")
done
runs+=("physics 0.1/1 lr=5e-3|configs/gino_pino_poisson.toml|--set train.interior_weight=0.1")
runs+=("physics 0.001/1 lr=5e-3|configs/gino_pino_poisson.toml|--set train.interior_weight=0.001")
runs+=("reference (exact labels) lr=5e-3|configs/gino_wosno_poisson.toml|--set train.loss=reference")

k=0
for spec in "${runs[@]}"; do
    IFS='|' read -r name config flags <<<"$spec"
    dir="$out/run$k"
    k=$((k + 1))
    mkdir -p "$dir"
    if [ -f "$out/truth.h5" ]; then cp "$out"/truth*.h5 "$dir/"; fi
    # shellcheck disable=SC2086
    "$nabla" train "$config" $flags --set train.steps="$steps" --set train.progress=false \
        --out "$dir" >"$dir/log.txt" 2>&1 || { echo "run failed: $name (see $dir/log.txt)" >&2; exit 1; }
    if [ ! -f "$out/truth.h5" ]; then cp "$dir"/truth*.h5 "$out/"; fi
    echo "$name" >"$dir/name.txt"
    echo "done: $name" >&2
done

python3 - "$out" "$k" "$steps" <<'EOF' | tee benches/out/gino_wosno.md
import json, sys
out, count, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []
for k in range(count):
    d = f"{out}/run{k}"
    s = json.load(open(f"{d}/summary.json"))
    rows.append((open(f"{d}/name.txt").read().strip(), s))
print(f"| run ({steps} steps) | held-out rel. L2 | zero-shot rel. L2 | zero-shot / in-dist. | s/step (targets) | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for name, s in rows:
    print(f"| {name} | {s['test_rel_l2']:.4f} (± {s['test_rel_l2_std']:.4f}) | "
          f"{s['ood_test_rel_l2']:.4f} | {s['ood_ratio']:.2f} | "
          f"{s['seconds_per_step']:.3f} ({s['target_seconds_per_step']:.3f}) | {s['peak_rss_mib']:.0f} |")
best = lambda key: min((s['test_rel_l2'], n, s) for n, s in rows if n.startswith(key))
w, p = best("wos"), best("physics")
print()
print(f"best WoS: {w[1]} {w[0]:.4f}; best physics: {p[1]} {p[0]:.4f}; "
      f"WoS / physics = {w[0] / p[0]:.2f} (target ≤ 0.5)")
print(f"per step: WoS {w[2]['seconds_per_step']:.3f} s vs physics {p[2]['seconds_per_step']:.3f} s; "
      f"peak RSS {w[2]['peak_rss_mib']:.0f} vs {p[2]['peak_rss_mib']:.0f} MiB")
print(f"zero-shot / in-distribution for the best WoS run: {w[2]['ood_ratio']:.2f} (target ≤ 2)")
EOF
