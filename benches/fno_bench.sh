#!/usr/bin/env bash
# Benchmarks nabla's FNO training on Darcy flow (configs/fno_darcy.toml) against the same FNO in
# the PyTorch library neuraloperator (CPU), on the same data file data/darcy64.h5.
# Usage: benches/fno_bench.sh [EPOCHS]          (default 5)
# Environment: FNO_BENCH_ONE_THREAD=0 skips the extra 1-thread neuraloperator run (default 1);
#              NABLA_BENCH_NO_AVX512=1 measures nabla's path for CPUs without AVX-512 (see _env.sh);
#              FNO_BENCH_REPORT_ONLY=1 runs nothing and reprints the table from benches/out/.
#
# Runs, one after the other (never at once): nabla train (its own thread pool, all cores),
# neuraloperator with torch.set_num_threads(2), then neuraloperator with 1 thread. Prints a
# markdown table (tool, threads, epochs, training seconds, samples/s, test rel L2, nabla/other
# throughput) and writes benches/out/fno_bench_EPOCHS.json. Only training is timed on both
# sides (nabla's summary.json `seconds`; benches/fno_neuralop.py times its training loop).
# See benches/fno_neuralop.py for how the neuraloperator model is matched to nabla's.
# Unlike the other scripts here, nabla is built only when target/release/nabla is missing.
set -euo pipefail

EPOCHS="${1:-5}"
if ! [[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [EPOCHS]   (EPOCHS a positive integer, default 5)" >&2
    exit 2
fi
ONE_THREAD="${FNO_BENCH_ONE_THREAD:-1}"
REPORT_ONLY="${FNO_BENCH_REPORT_ONLY:-0}"

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
VENV="$BENCH_DIR/.venv"
PY="$VENV/bin/python"
OUT="$BENCH_DIR/out"
NABLA="$ROOT/target/release/nabla"
NO_AVX512="${NABLA_BENCH_NO_AVX512:-0}"  # as in _env.sh: the path of CPUs without AVX-512
if [ "$NO_AVX512" = 1 ]; then
    export NABLA_NO_AVX512=1
    NABLA="$ROOT/target/no-avx512/release/nabla"
fi
DATA="$ROOT/data/darcy64.h5"
NEURALOP_VERSION=2.0.0  # works with the venv's torch (2.15 CPU); neuralop does not pin torch
export WANDB_MODE=disabled  # neuralop imports wandb; never let it log or phone out

# --- Python side: the shared venv, torch (CPU), neuraloperator and h5py, only what is missing.
if [ ! -x "$PY" ]; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    # As pinn_bench.sh: the CPU-only wheel index first (small), PyPI (large, CUDA libs) else.
    echo "installing torch into $VENV" >&2
    if ! "$PY" -m pip install --quiet --timeout 20 --retries 0 \
            --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null; then
        echo "the CPU wheel index is unreachable; installing torch from PyPI (large)" >&2
        "$PY" -m pip install --quiet torch
    fi
fi
if ! "$PY" - "$NEURALOP_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import h5py, numpy  # noqa: F401
sys.exit(version("neuraloperator") != sys.argv[1])
EOF
then
    echo "installing neuraloperator==$NEURALOP_VERSION and h5py into $VENV" >&2
    "$PY" -m pip install --quiet "neuraloperator==$NEURALOP_VERSION" h5py numpy
fi

# --- nabla binary and data.
if [ "$NO_AVX512" = 1 ]; then
    echo "building nabla without AVX-512 kernels (target/no-avx512)" >&2
    (cd "$ROOT" && MMTEST_FEATURE=sse2,avx,avx2,fma CARGO_TARGET_DIR="$ROOT/target/no-avx512" \
        cargo build --release --quiet -p nabla-cli)
elif [ ! -x "$NABLA" ]; then
    echo "building nabla (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet -p nabla-cli)
fi
if [ ! -f "$DATA" ]; then
    echo "generating $DATA" >&2
    mkdir -p "$(dirname "$DATA")"
    "$NABLA" datagen darcy --resolution 64 --samples 1200 --seed 0 --out "$DATA"
fi
mkdir -p "$OUT"

RUN_DIR="$OUT/fno_nabla_$EPOCHS"
threads_list=(2)
[ "$ONE_THREAD" != 0 ] && threads_list+=(1)

if [ "$REPORT_ONLY" = 0 ]; then
# --- nabla.
rm -rf "$RUN_DIR"  # never read a stale summary.json
echo "[nabla] $EPOCHS epoch(s) (log: $RUN_DIR.log)" >&2
if ! (cd "$ROOT" && "$NABLA" train configs/fno_darcy.toml --set "train.epochs=$EPOCHS" \
        --out "$RUN_DIR") >"$RUN_DIR.log" 2>&1; then
    echo "nabla train failed; log tail:" >&2
    tail -n 30 "$RUN_DIR.log" >&2
    exit 1
fi
cut -d' ' -f1-3 /proc/loadavg >"$RUN_DIR.loadavg" 2>/dev/null || true

# --- neuraloperator (2 threads, then 1).
for t in "${threads_list[@]}"; do
    res="$OUT/fno_neuralop_${EPOCHS}_t$t.json"
    rm -f "$res"
    echo "[neuraloperator] $EPOCHS epoch(s), $t thread(s) (log: ${res%.json}.log)" >&2
    if ! (cd "$ROOT" && "$PY" "$BENCH_DIR/fno_neuralop.py" --data "$DATA" --epochs "$EPOCHS" \
            --threads "$t" --out "$res") >"${res%.json}.log" 2>&1; then
        echo "neuraloperator run failed; log tail:" >&2
        tail -n 30 "${res%.json}.log" >&2
        exit 1
    fi
done
fi

# --- table and JSON.
exec "$PY" - "$EPOCHS" "$RUN_DIR/summary.json" "$OUT" "${threads_list[@]}" <<'EOF'
import json, os, sys
from pathlib import Path

epochs, summary, out = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
threads = [int(t) for t in sys.argv[4:]]
bench_dir = out.parent
sys.path.insert(0, str(bench_dir))
from common import markdown_table

s = json.loads(summary.read_text())
nabla = {
    "tool": "nabla", "threads": os.cpu_count(), "epochs": int(round(s.get("epochs", epochs))),
    "seconds": s["seconds"], "samples_per_second": s["samples_per_second"],
    "test_rel_l2": s["test_rel_l2"], "summary": s,
}
try:
    nabla["load_avg"] = [float(x) for x in Path(f"{summary.parent}.loadavg").read_text().split()]
except (OSError, ValueError):
    nabla["load_avg"] = None
others = [json.loads((out / f"fno_neuralop_{epochs}_t{t}.json").read_text()) for t in threads]

rows = []
for r in [nabla, *others]:
    ratio = nabla["samples_per_second"] / r["samples_per_second"]
    rows.append([
        r["tool"] + (f" {r['neuraloperator_version']}" if "neuraloperator_version" in r else ""),
        str(r["threads"]) + (" (all cores)" if r is nabla else ""),
        str(r["epochs"]), f"{r['seconds']:.1f}", f"{r['samples_per_second']:.1f}",
        f"{r['test_rel_l2']:.4f}", "1.00" if r is nabla else f"{ratio:.2f}",
        f"{r['load_avg'][0]:.1f}" if r.get("load_avg") else "?",
    ])
table = markdown_table(
    ["tool", "threads", "epochs", "seconds", "samples/s", "test rel L2", "nabla/this throughput",
     "load after"],
    rows, "llrrrrrr")
print(f"FNO on Darcy 64² (1000 train / 200 test, batch 20), {epochs} epoch(s); "
      f"training time only, on {os.cpu_count()} cores; 'load after' is the 1-minute load "
      f"average when the run ended (timings move with it)\n")
print(table)
result = {
    "epochs": epochs,
    "nabla": nabla,
    "neuraloperator": others,
    "ratio_nabla_over_neuraloperator": {
        f"threads_{r['threads']}": nabla["samples_per_second"] / r["samples_per_second"]
        for r in others
    },
    "load_avg": list(os.getloadavg()),
    "cpu_count": os.cpu_count(),
    "table": table,
}
path = out / f"fno_bench_{epochs}.json"
path.write_text(json.dumps(result, indent=1))
print(f"\nwritten {path}", file=sys.stderr)
EOF
