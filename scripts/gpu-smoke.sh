#!/usr/bin/env bash
# GPU smoke test, for a machine with an NVIDIA GPU and driver: builds `nabla` with candle's CUDA
# backend and the WoS kernel (features candle-cuda,cuda), runs the same small jobs on cuda:N and on
# the CPU, and prints per-step times and their agreement:
#   PINN   configs/pinn_poisson2d.toml, 300 Adam steps (lr 1e-3): loss every 10 steps; from step
#          100 on, GPU and CPU losses within 1e-3 relative
#   FNO    configs/fno_darcy.toml, one epoch on a generated 32x32 Darcy set (48 train, 16 test)
#   DCDM   nabla poisson --grid 64x64 --solver dcdm with the shipped datasets/runs/dcdm32 network
#   WoS    nabla wos on the unit square (u = x^2 - y^2) and on a star minus a ball (generated
#          distance functions), 16x16 points, 4096 walks each: means within 4 combined standard
#          errors at every point
# Exit 0 when every job ran and both agreement checks hold, 1 otherwise.
#
#   scripts/gpu-smoke.sh             build (release) and run everything
# Environment:
#   NABLA_GPU     the device (default cuda:0)
#   NABLA_BIN     a `nabla` already built with --features candle-cuda,cuda: skip the build (for a
#                 GPU machine without the toolchain; the CUDA 13 runtime libraries it links —
#                 libcudart, libcublas, libcublasLt, libcurand, libnvrtc — must be on
#                 LD_LIBRARY_PATH)
#   SMOKE_DIR     where runs and outputs go (default target/gpu-smoke)
#   CARGO_TARGET_DIR  default target/cuda (as scripts/check-cuda.sh)
# The toolchain: the system's nvcc when one is on PATH, else the CUDA 13.0 wheels of
# scripts/check-cuda.sh (needs PyPI once, and a driver that runs CUDA 13: version >= 580).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { echo "gpu-smoke: $*" >&2; exit 1; }
say() { echo "gpu-smoke: $*"; }

GPU=${NABLA_GPU:-cuda:0}
case "$GPU" in cuda:[0-9]*) ;; *) die "NABLA_GPU must be cuda:N, got '$GPU'" ;; esac
ORDINAL=${GPU#cuda:}

# --- fail fast without a GPU -----------------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 \
  || die "nvidia-smi not found: this machine has no NVIDIA driver. Run scripts/check-cuda.sh to build the GPU code without a GPU; this script needs one."
gpu_line=$(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader --id="$ORDINAL" 2>&1) \
  || die "nvidia-smi cannot see GPU $ORDINAL: $gpu_line"
driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9]*\).*/\1/p' | head -n1)
command -v python3 >/dev/null 2>&1 || die "python3 is needed to compare the outputs"
say "GPU $ORDINAL: $gpu_line; the driver runs CUDA ${driver_cuda:-?}"

# --- build ---------------------------------------------------------------------------------------
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cuda}
if [ -n "${NABLA_BIN:-}" ]; then
  [ -x "$NABLA_BIN" ] || die "NABLA_BIN=$NABLA_BIN is not an executable"
  BIN=$NABLA_BIN
else
  if command -v nvcc >/dev/null 2>&1; then
    say "toolchain: system $(command -v nvcc) ($(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
  else
    if [ -n "$driver_cuda" ] && [ "${driver_cuda%%.*}" -lt 13 ]; then
      die "no nvcc on PATH, and the driver runs CUDA $driver_cuda: the wheel toolchain of scripts/check-cuda.sh is CUDA 13.0, whose kernels need a driver >= 580. Install a CUDA toolkit matching the driver (nvcc on PATH) or a newer driver."
    fi
    say "toolchain: CUDA 13.0 wheels (scripts/check-cuda.sh --env)"
    env_lines=$(scripts/check-cuda.sh --env) || die "scripts/check-cuda.sh --env failed"
    eval "$env_lines"
  fi
  say "cargo build --release -p nabla-cli --features nabla-cli/candle-cuda,nabla-cli/cuda"
  cargo build --release -p nabla-cli --features nabla-cli/candle-cuda,nabla-cli/cuda
  BIN=$CARGO_TARGET_DIR/release/nabla
fi
missing=$(ldd "$BIN" | awk '/not found/ {print $1}' | tr '\n' ' ')
[ -z "$missing" ] || die "$BIN cannot find ${missing}(put the CUDA runtime libraries on LD_LIBRARY_PATH)"

W=${SMOKE_DIR:-$ROOT/target/gpu-smoke}
rm -rf "$W"
mkdir -p "$W"
say "outputs in $W"
fail=0
# Runs a labelled command, its output in $W/LABEL.log; a failure is counted, not fatal.
run() {
  local label=$1
  shift
  local t0=$SECONDS
  if "$@" >"$W/$label.log" 2>&1; then
    say "  $label: ok ($((SECONDS - t0)) s)"
  else
    say "  $label: FAILED (exit $?; last lines of $W/$label.log follow)"
    tail -n 5 "$W/$label.log" | sed 's/^/      /'
    fail=1
    return 1
  fi
}
DEVICES=("$GPU" cpu)
tag() { if [ "$1" = cpu ]; then echo cpu; else echo gpu; fi; }

# --- PINN ----------------------------------------------------------------------------------------
say "PINN: pinn_poisson2d, 300 Adam steps"
for dev in "${DEVICES[@]}"; do
  run "pinn_$(tag "$dev")" "$BIN" train configs/pinn_poisson2d.toml \
    --set 'train.optimizer=[{kind="adam",steps=300,lr=1e-3}]' --set train.log_every=10 \
    --set "device=$dev" --out "$W/pinn_$(tag "$dev")" || true
done
if [ -f "$W/pinn_gpu/metrics.csv" ] && [ -f "$W/pinn_cpu/metrics.csv" ]; then
  python3 - "$W/pinn_gpu/metrics.csv" "$W/pinn_cpu/metrics.csv" <<'EOF' || fail=1
import csv, sys
def read(path):
    return {int(r["step"]): r for r in csv.DictReader(open(path))}
gpu, cpu = read(sys.argv[1]), read(sys.argv[2])
def ms_per_step(m):
    # Steady state: steps 100..300 (leaves out start-up and kernel compilation).
    return 1e3 * (float(m[300]["seconds"]) - float(m[100]["seconds"])) / 200
print(f"gpu-smoke:    ms/step (steps 100-300): gpu {ms_per_step(gpu):.3f}, cpu {ms_per_step(cpu):.3f}")
worst, at = 0.0, None
for step in sorted(set(gpu) & set(cpu)):
    if step < 100:
        continue
    lg, lc = float(gpu[step]["loss"]), float(cpu[step]["loss"])
    rel = abs(lg - lc) / abs(lc)
    if rel >= worst:
        worst, at = rel, step
print(f"gpu-smoke:    loss at 300: gpu {float(gpu[300]['loss']):.6e}, cpu {float(cpu[300]['loss']):.6e}; "
      f"largest relative difference from step 100 on: {worst:.2e} (step {at})")
ok = worst <= 1e-3
print(f"gpu-smoke:    PINN agreement (<= 1e-3): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
fi

# --- FNO -----------------------------------------------------------------------------------------
say "FNO: fno_darcy, one epoch on 64 generated 32x32 samples"
if run darcy_data "$BIN" datagen darcy --resolution 32 --samples 64 --seed 0 --out "$W/darcy32.h5" --quiet; then
  for dev in "${DEVICES[@]}"; do
    run "fno_$(tag "$dev")" "$BIN" train configs/fno_darcy.toml --set "data.file=$W/darcy32.h5" \
      --set data.train=48 --set data.test=16 --set train.epochs=1 --set train.batch_size=8 \
      --set "device=$dev" --out "$W/fno_$(tag "$dev")" || true
  done
  if [ -f "$W/fno_gpu/metrics.csv" ] && [ -f "$W/fno_cpu/metrics.csv" ]; then
    python3 - "$W/fno_gpu/metrics.csv" "$W/fno_cpu/metrics.csv" <<'EOF' || fail=1
import csv, sys
g, c = (list(csv.DictReader(open(p)))[-1] for p in sys.argv[1:3])
print(f"gpu-smoke:    epoch (6 steps of 8): gpu {float(g['seconds']):.3f} s, cpu {float(c['seconds']):.3f} s "
      f"(includes the first step's start-up)")
lg, lc = float(g["loss"]), float(c["loss"])
print(f"gpu-smoke:    train loss gpu {lg:.6e}, cpu {lc:.6e} (relative difference {abs(lg - lc) / abs(lc):.2e}); "
      f"test relative L2 gpu {float(g['test_rel_l2']):.6e}, cpu {float(c['test_rel_l2']):.6e}")
EOF
  fi
fi

# --- DCDM ----------------------------------------------------------------------------------------
say "DCDM: poisson --grid 64x64 --solver dcdm (network datasets/runs/dcdm32)"
for dev in "${DEVICES[@]}"; do
  run "dcdm_$(tag "$dev")" "$BIN" poisson --grid 64x64 --solver dcdm \
    --model datasets/runs/dcdm32/checkpoint.safetensors --device "$dev" \
    --report "$W/dcdm_$(tag "$dev").json" --quiet || true
done
if [ -f "$W/dcdm_gpu.json" ] && [ -f "$W/dcdm_cpu.json" ]; then
  python3 - "$W/dcdm_gpu.json" "$W/dcdm_cpu.json" <<'EOF' || fail=1
import json, sys
g, c = (json.load(open(p)) for p in sys.argv[1:3])
for name, r in (("gpu", g), ("cpu", c)):
    per = 1e3 * r["solve_seconds"] / max(r["iterations"], 1)
    print(f"gpu-smoke:    {name}: {r['iterations']} iterations, relative residual {r['relative_residual']:.3e}, "
          f"solve {r['solve_seconds']:.3f} s ({per:.3f} ms/iteration)")
EOF
fi

# --- WoS -----------------------------------------------------------------------------------------
# Two domains: the unit square, and a CSG of a star and a ball (generated distance functions).
WOS_CASES=(
  "square|box:min=0,0;max=1,1|x^2-y^2"
  "star_csg|difference(star:c1=0.1;c2=-0.05 | ball:center=0.3,0;radius=0.2)|exp(x)*cos(y)"
)
for case in "${WOS_CASES[@]}"; do
  IFS='|' read -r wname wdomain wboundary <<<"$case"
  say "WoS: $wname ($wdomain), u = $wboundary, 16x16 points x 4096 walks"
  for dev in "${DEVICES[@]}"; do
    run "wos_${wname}_$(tag "$dev")" "$BIN" wos --domain "$wdomain" --boundary "$wboundary" \
      --grid 16x16 --walks 4096 --seed 0 --device "$dev" --out "$W/wos_${wname}_$(tag "$dev").csv" \
      --report "$W/wos_${wname}_$(tag "$dev").json" --quiet || true
  done
  if [ -f "$W/wos_${wname}_gpu.csv" ] && [ -f "$W/wos_${wname}_cpu.csv" ]; then
    python3 - "$W" "$wname" <<'EOF' || fail=1
import csv, json, math, sys
w, case = sys.argv[1], sys.argv[2]
for name in ("gpu", "cpu"):
    r = json.load(open(f"{w}/wos_{case}_{name}.json"))
    print(f"gpu-smoke:    {name}: {r['seconds']:.3f} s, {r['steps_per_second']:.3e} steps/s")
g, c = (list(csv.DictReader(open(f"{w}/wos_{case}_{n}.csv"))) for n in ("gpu", "cpu"))
if len(g) != len(c) or not g:
    print(f"gpu-smoke:    WoS {case}: {len(g)} GPU points against {len(c)} CPU points: FAIL")
    sys.exit(1)
worst = 0.0
for a, b in zip(g, c):
    if (a["x"], a["y"]) != (b["x"], b["y"]):
        print(f"gpu-smoke:    WoS {case}: points differ ({a['x']},{a['y']}) vs ({b['x']},{b['y']}): FAIL")
        sys.exit(1)
    se = math.hypot(float(a["stderr"]), float(b["stderr"]))
    worst = max(worst, abs(float(a["u"]) - float(b["u"])) / se if se > 0 else 0.0)
ok = worst <= 4.0
print(f"gpu-smoke:    WoS {case}: largest |u_gpu - u_cpu| over {len(g)} points: {worst:.3f} combined "
      f"standard errors; agreement (<= 4): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
  else
    fail=1
  fi
done

if [ "$fail" -eq 0 ]; then
  say "PASS (logs and runs in $W)"
else
  say "FAIL (logs and runs in $W)"
fi
exit "$fail"
