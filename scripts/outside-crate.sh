#!/usr/bin/env bash
# A simulation code's view of nabla: a crate created outside the workspace (a temporary
# directory) with a path dependency on crates/nabla only, holding the five journey examples,
# each built and run at a small size. Fails if any does not compile or exits non-zero.
#
# Run by scripts/test.sh after the workspace tests. The build shares the workspace's target
# directory (same lock file, same profiles), so only the five examples are compiled anew.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src" "$work/examples"
cat > "$work/Cargo.toml" <<EOF
[package]
name = "simulation-code"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
nabla = { path = "$repo/crates/nabla" }

[profile.dev]
opt-level = 1

[profile.dev.package."*"]
opt-level = 3
EOF
echo '//! A simulation code that uses nabla (see its examples/).' > "$work/src/lib.rs"
cp "$repo/Cargo.lock" "$work/Cargo.lock"
for e in heat_implicit fno_inference pinn_surrogate wos_in_loop dcdm_pressure; do
    cp "$repo/examples/$e.rs" "$work/examples/$e.rs"
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cd "$work"
run() {
    local name="$1"
    shift
    echo "== outside-crate journey: $name $*"
    cargo run --quiet --example "$name" -- "$@"
}
runs="$repo/datasets/runs"
run heat_implicit 24 20
run fno_inference "$runs/fno_v0.1" 2
run pinn_surrogate "$runs/pinn_v0.1" 16
run wos_in_loop 2 400 8
run dcdm_pressure "$runs/dcdm32" 2
echo "== outside-crate journeys: all five built and ran"
