#!/usr/bin/env bash
# Installs what mha2mla needs on Debian 12 (skipping packages already installed), then configures and builds
# into build/. Idempotent: a second run only rebuilds what changed.
#
#   bash launch/setup.sh            # install + build
#   bash launch/setup.sh --no-build # install only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-14-dev
  # LibTorch (CPU) and the BLAS it must use: the OpenMP OpenBLAS, not the reference BLAS (30x slower) and not
  # the pthread variant (it ignores at::set_num_threads and oversubscribes under MPI).
  libtorch-dev libopenblas0-openmp libgloo-dev
  # MPI, and Slurm for the launcher tests
  libopenmpi-dev openmpi-bin slurmctld slurmd slurm-client munge
  # libraries
  libeigen3-dev libyaml-cpp-dev libprotobuf-dev protobuf-compiler libspdlog-dev libfmt-dev libgtest-dev
  libsimdjson-dev nlohmann-json3-dev libturbojpeg0-dev libjpeg-dev libpng-dev libpcre2-dev
  libsentencepiece-dev sentencepiece libarchive-dev libbenchmark-dev
  # Python oracles and baselines run on Debian's own python3 with torch 1.13
  python3 python3-torch python3-numpy python3-pil
)
# The tokenizer reference (Hugging Face's Node binding) comes from npm. Machines that already have Node.js from
# another source (NodeSource's nodejs bundles npm) keep it: Debian's npm package conflicts with that nodejs.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
fi

if [ "${1:-}" = "--no-build" ]; then exit 0; fi

BUILD_DIR=${MHA2MLA_BUILD_DIR:-build}
JOBS=${MHA2MLA_JOBS:-$(nproc)}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "setup: built $BUILD_DIR/mha2mla"
