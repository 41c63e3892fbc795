#!/usr/bin/env bash
# Walk-on-Spheres benchmarks (release build): throughput on box and ball with 1 and 2 threads,
# RMS error vs walks (10^2..10^6, fitted slope), and time to 1e-3 error against mg-pcg.
# Usage: benches/wos_bench.sh [throughput] [convergence] [vs-mg]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# machine: $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec cargo bench -p nabla-wos --bench wos_bench -- "$@"
