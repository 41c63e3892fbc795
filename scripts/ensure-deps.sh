#!/usr/bin/env bash
# Makes sure the system packages nabla builds against are present: the HDF5 C library
# (libhdf5-dev, read through pkg-config by hdf5-metno). Installs them with apt-get when run as
# root or with sudo available; otherwise stops with a message naming the packages.
# `ensure-deps.sh mpi` also brings what the `mpi` feature needs: Open MPI (headers, mpicc,
# mpirun) and libclang for rsmpi's bindgen.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! { pkg-config --exists hdf5 2>/dev/null || [ -e /usr/include/hdf5/serial/hdf5.h ] || [ -e /usr/include/hdf5.h ]; }; then
  missing+=(libhdf5-dev)
fi
if [ "${1:-}" = "mpi" ]; then
  command -v mpicc >/dev/null 2>&1 || missing+=(libopenmpi-dev)
  command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
  # bindgen needs libclang itself; libclang-cpp (which other packages bring) does not do.
  have_libclang() {
    local f
    for f in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
             /usr/lib/*-linux-gnu/libclang.so* /usr/lib/*-linux-gnu/libclang-[0-9]*.so*; do
      [ -e "$f" ] && return 0
    done
    return 1
  }
  have_libclang || missing+=(libclang-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "nabla: installing missing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "nabla: missing system packages: ${missing[*]}; install them (e.g. 'sudo apt-get install ${missing[*]}') and run again" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "nabla: missing system packages: ${missing[*]} (no apt-get here; install them with your package manager)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
  || { echo "nabla: could not install ${missing[*]} with apt-get" >&2; exit 1; }
