#!/usr/bin/env bash
# Builds nabla's GPU code without a GPU: candle's CUDA backend (feature `candle-cuda`, which
# compiles candle's kernels with nvcc and links the CUDA libraries) and the Walk-on-Spheres kernel
# (feature `cuda`), then lints them.
#
# The CUDA toolkit comes from NVIDIA's Python wheels, installed into a venv (.cuda-venv/, ~1.3 GB,
# downloaded once): nvcc 13.0 (the CUDA 12 wheel nvidia-cuda-nvcc-cu12 ships only ptxas), its
# headers, cudart, cuBLAS, cuRAND and NVRTC. The driver library libcuda.so comes with the NVIDIA
# driver, not the toolkit, so a link-time stub of it is generated (every driver function, each
# returning CUDA_ERROR_STUB_LIBRARY); binaries record `libcuda.so.1` and load the real driver on a
# GPU machine. Nothing here runs device code: scripts/gpu-smoke.sh does, on a machine with a GPU.
#
#   scripts/check-cuda.sh           set the toolchain up (once), then
#                                   cargo build  -p nabla-cli --features candle-cuda,cuda (the binary
#                                                and the facade under it), checks what it links to
#                                   cargo test   -p nabla-wos --features cuda --test cuda: NVRTC
#                                                compiles the Walk-on-Spheres kernel of every domain
#                                                kind (NVRTC needs no GPU)
#                                   cargo clippy --workspace --all-targets, same features, -D warnings
#   scripts/check-cuda.sh --env     set the toolchain up (once) and print `export` lines for it:
#                                   eval "$(scripts/check-cuda.sh --env)"
#
# Needs python3 with venv and pip, g++ (nvcc's host compiler), and PyPI the first time.
# Environment: NABLA_CUDA_VENV (default .cuda-venv), CUDA_COMPUTE_CAP (default 80 when there is
# no nvidia-smi to ask; PTX for 8.0 runs on every later GPU), CARGO_TARGET_DIR (default
# target/cuda: the feature set differs from the CPU build's).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=check
case "${1:-}" in
  "") ;;
  --env) MODE=env ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "check-cuda: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

say() { if [ "$MODE" = env ]; then echo "check-cuda: $*" >&2; else echo "check-cuda: $*"; fi; }
die() { echo "check-cuda: $*" >&2; exit 1; }

# CUDA 13.0 (the oldest 13.x: its PTX loads on every driver >= 580). cudarc 0.19.10, which candle
# 0.11 uses, knows CUDA versions up to 13.4, so nvcc must not be newer than that.
WHEELS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)

VENV=${NABLA_CUDA_VENV:-$ROOT/.cuda-venv}
STAMP=$VENV/.nabla-cuda-wheels

# --- prerequisites -------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 \
  || die "python3 is missing: install it (Debian: apt-get install python3 python3-venv)"
command -v g++ >/dev/null 2>&1 \
  || die "g++ is missing: nvcc needs it as host compiler (Debian: apt-get install g++)"
command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust (https://rustup.rs)"

# --- the venv with the wheels ----------------------------------------------------------------------
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "${WHEELS[*]}" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV" 2>/dev/null || {
      rm -rf "$VENV"
      die "python3 cannot create a venv: the venv module or ensurepip is missing (Debian: apt-get install python3-venv)"
    }
  fi
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 \
    || die "the venv $VENV has no pip (Debian: apt-get install python3-venv python3-pip); delete it and run again"
  say "installing the CUDA wheels into $VENV (~1.3 GB the first time)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${WHEELS[@]}" >&2 \
    || die "pip could not install ${WHEELS[*]} (is PyPI reachable?)"
  rm -rf "$VENV/cuda"
  echo "${WHEELS[*]}" >"$STAMP"
fi

NV=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13
[ -x "$NV/bin/nvcc" ] || die "no nvcc at $NV/bin/nvcc: the nvidia-cuda-nvcc wheel changed layout"

# --- a toolkit root: include/, lib/ with the unversioned names the linker wants, lib/stubs/libcuda.so
CUDA_ROOT_DIR=$VENV/cuda
# The driver stub declares every function of cudarc's driver bindings (its `extern "C"` blocks):
# made again when the cudarc in Cargo.lock changes.
CUDARC=$(cargo metadata --format-version 1 --features nabla-cli/candle-cuda,nabla-cli/cuda \
  --manifest-path "$ROOT/Cargo.toml" 2>/dev/null \
  | python3 -c 'import json, sys, os
pk = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"]
print(os.path.dirname(pk[0]["manifest_path"]) if pk else "")') || true
[ -n "$CUDARC" ] && [ -f "$CUDARC/src/driver/sys/mod.rs" ] \
  || die "cudarc's sources were not found through cargo metadata (is crates.io reachable? try 'cargo fetch')"
STUB=$CUDA_ROOT_DIR/lib/stubs/libcuda.so
if [ ! -f "$STUB" ] || [ "$(cat "$STUB.from" 2>/dev/null)" != "$CUDARC" ]; then
  mkdir -p "$CUDA_ROOT_DIR/lib/stubs"
  ln -sfn "$NV/include" "$CUDA_ROOT_DIR/include"
  ln -sfn "$NV/bin" "$CUDA_ROOT_DIR/bin"
  for lib in cudart cublas cublasLt curand nvrtc; do
    real=$(find "$NV/lib" -maxdepth 1 -name "lib$lib.so.*" ! -name '*builtins*' ! -name '*.alt.*' | sort | head -n1)
    [ -n "$real" ] || die "lib$lib.so.* not found in $NV/lib"
    ln -sfn "$real" "$CUDA_ROOT_DIR/lib/lib$lib.so"
  done
  {
    echo "/* Link-time stub of libcuda.so.1 (from $CUDARC), made by scripts/check-cuda.sh. */"
    grep -oE '^ +fn cu[A-Za-z0-9_]+\(' "$CUDARC/src/driver/sys/mod.rs" \
      | sed -E 's/^ +fn (cu[A-Za-z0-9_]+)\(/\1/' | sort -u \
      | while read -r f; do echo "int $f(void) { return 34; /* CUDA_ERROR_STUB_LIBRARY */ }"; done
  } >"$STUB.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB" "$STUB.c" \
    || die "could not compile the libcuda.so stub with gcc"
  echo "$CUDARC" >"$STUB.from"
fi

# --- the environment the build scripts read ------------------------------------------------------
# cudarc: `nvcc --version` (PATH) for the CUDA version, CUDA_HOME for the link search (lib/,
# lib/stubs/). candle-kernels (cudaforge): NVCC, headers next to nvcc, CUDA_COMPUTE_CAP when no
# nvidia-smi can tell. LD_LIBRARY_PATH: the real runtime libraries (not the driver stub).
exports=(
  "PATH=$NV/bin:$PATH"
  "NVCC=$NV/bin/nvcc"
  "CUDA_HOME=$CUDA_ROOT_DIR"
  "LD_LIBRARY_PATH=$CUDA_ROOT_DIR/lib:$NV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
)
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
  exports+=("CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}")
fi
if [ "$MODE" = env ]; then
  for e in "${exports[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
  exit 0
fi
for e in "${exports[@]}"; do export "${e?}"; done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cuda}
FEATURES=nabla-cli/candle-cuda,nabla-cli/cuda
say "nvcc: $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), compute capability ${CUDA_COMPUTE_CAP:-from nvidia-smi}, target dir $CARGO_TARGET_DIR"

start=$SECONDS
say "cargo build -p nabla-cli --features $FEATURES"
cargo build -p nabla-cli --features "$FEATURES"
# The binary needs libcuda.so.1 from a driver and nothing else outside this toolchain.
bin=$CARGO_TARGET_DIR/debug/nabla
missing=$(ldd "$bin" | awk '/not found/ {print $1}' | tr '\n' ' ')
[ "$missing" = "libcuda.so.1 " ] \
  || die "$bin: unexpected unresolved libraries: '${missing:-none}' (expected only libcuda.so.1)"
say "linked: $bin (needs a driver's libcuda.so.1 at run time)"
say "cargo test -p nabla-wos --features cuda --test cuda (NVRTC compiles every domain kind's kernel; no GPU needed)"
cargo test -p nabla-wos --features cuda --test cuda -- --nocapture
say "cargo clippy --workspace --all-targets --features $FEATURES -- -D warnings"
cargo clippy --workspace --all-targets --features "$FEATURES" -- -D warnings
say "OK in $((SECONDS - start)) s: candle-cuda and cuda build, link and pass clippy"
