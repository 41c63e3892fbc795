#!/usr/bin/env bash
# MPI benchmark (issue 22): distributed CG on --grid problems, release build with --features mpi.
#
#   1. iteration counts to tol 1e-8 on 1024² for 1, 2 and 4 ranks (4 oversubscribed on 2 cores),
#      CG and mg-pcg: they must be identical (exact, rank-count independent reductions);
#   2. time per iteration on 2048² (CG and Jacobi-PCG: --max-iters 600, the same work for every
#      run; mg-pcg: to 1e-8, its iteration count is the same everywhere) of
#        serial  : one process, 2 threads (the non-MPI path, what a user runs today),
#        1x2     : mpirun -np 1, 2 threads (the distributed code on one rank),
#        2x1     : mpirun -np 2, 1 thread each (communication overhead on this machine),
#      with the ratio 2x1 / serial (target ≤ 1.25) and each run's communication seconds;
#   3. a masked grid with a 1:1000 checkerboard coefficient on GRID_FOR_COUNTS (files written by
#      `cargo run -p nabla-data --example grid_inputs`), to 1e-8: mg-pcg (Galerkin levels) on one
#      process and on 1, 2 ranks, against jacobi-pcg on 2 ranks (what ran there before).
# Usage: benches/mpi_bench.sh [GRID_FOR_TIMING] [GRID_FOR_COUNTS]   (default 2048x2048 1024x1024)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh mpi
cargo build --release --quiet -p nabla-cli --features mpi
cargo build --release --quiet -p nabla-data --example grid_inputs
NABLA="$PWD/target/release/nabla"
TIMING=${1:-2048x2048}
COUNTS=${2:-1024x1024}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r[sys.argv[2]])" "$1" "$2"; }

echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \
avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(mpirun --version | head -1)"
echo
echo "## iteration counts on $COUNTS to 1e-8"
echo "| solver | ranks | iterations | relative residual | solve s | communication s |"
echo "|---|---|---|---|---|---|"
for solver in cg mg-pcg; do
    for np in 1 2 4; do
        "${MPIRUN[@]}" -np "$np" "$NABLA" poisson --grid "$COUNTS" --solver "$solver" --quiet \
            --report "$OUT/c$np.json" >/dev/null
        printf "| %s | %s | %s | %.3e | %.2f | %.3f |\n" "$solver" "$np" \
            "$(field "$OUT/c$np.json" iterations)" "$(field "$OUT/c$np.json" relative_residual)" \
            "$(field "$OUT/c$np.json" solve_seconds)" "$(field "$OUT/c$np.json" communication_seconds)"
    done
done
echo
for solver in cg jacobi-pcg mg-pcg; do
    echo "## $solver on $TIMING, $([ "$solver" = mg-pcg ] && echo "to 1e-8" || echo "600 iterations") (best of 2)"
    echo "| run | ms/iteration | communication s | vs serial 2 threads |"
    echo "|---|---|---|---|"
    best() { # best ms/iteration of two runs of "$@", report in $OUT/last.json
        local b=""
        for rep in 1 2; do
            "$@" --report "$OUT/t.json" >/dev/null 2>&1 || true
            local ms
            ms=$(python3 -c "import json; r=json.load(open('$OUT/t.json')); print(1e3*r['seconds_per_iteration'])")
            if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if $ms < $b else 1)"; then
                b=$ms; cp "$OUT/t.json" "$OUT/last.json"
            fi
        done
        echo "$b"
    }
    args=(poisson --grid "$TIMING" --solver "$solver" --max-iters 600 --quiet)
    serial=$(best "$NABLA" "${args[@]}" --threads 2)
    printf "| serial, 1 process x 2 threads | %.2f | - | 1.00 |\n" "$serial"
    one=$(RAYON_NUM_THREADS=2 best "${MPIRUN[@]}" -np 1 --bind-to none -x RAYON_NUM_THREADS "$NABLA" "${args[@]}")
    printf "| mpirun -np 1 x 2 threads | %.2f | %.3f | %.2f |\n" "$one" \
        "$(field "$OUT/last.json" communication_seconds)" "$(python3 -c "print($one/$serial)")"
    two=$(best "${MPIRUN[@]}" -np 2 "$NABLA" "${args[@]}")
    printf "| mpirun -np 2 x 1 thread | %.2f | %.3f | %.2f |\n" "$two" \
        "$(field "$OUT/last.json" communication_seconds)" "$(python3 -c "print($two/$serial)")"
    echo
done

echo "## masked grid, 1:1000 checkerboard coefficient, $COUNTS, to 1e-8"
"$PWD/target/release/examples/grid_inputs" "$COUNTS" "$OUT/inputs" | sed 's/^/# /'
echo "| run | solver | iterations | relative residual | setup s | solve s | communication s |"
echo "|---|---|---|---|---|---|---|"
inputs=(--grid "$COUNTS" --mask "$OUT/inputs/mask.h5" --coefficient "$OUT/inputs/coefficient.h5"
        --tol 1e-8 --max-iters 50000 --quiet --report "$OUT/v.json")
row() { # label solver, then the command
    local label=$1 solver=$2; shift 2
    "$@" --solver "$solver" "${inputs[@]}" >/dev/null 2>&1 || true
    printf "| %s | %s | %s | %.3e | %.3f | %.2f | %s |\n" "$label" "$solver" \
        "$(field "$OUT/v.json" iterations)" "$(field "$OUT/v.json" relative_residual)" \
        "$(field "$OUT/v.json" setup_seconds)" "$(field "$OUT/v.json" solve_seconds)" \
        "$(python3 -c "import json; print(json.load(open('$OUT/v.json')).get('communication_seconds', '-'))")"
}
row "serial, 1 process x 2 threads" mg-pcg "$NABLA" poisson --threads 2
row "mpirun -np 1 x 2 threads" mg-pcg env RAYON_NUM_THREADS=2 "${MPIRUN[@]}" -np 1 --bind-to none -x RAYON_NUM_THREADS "$NABLA" poisson
row "mpirun -np 2 x 1 thread" mg-pcg "${MPIRUN[@]}" -np 2 "$NABLA" poisson
row "mpirun -np 2 x 1 thread" jacobi-pcg "${MPIRUN[@]}" -np 2 "$NABLA" poisson
