#!/usr/bin/env bash
# Configures, builds and runs the safetensors fuzzer (clang, libFuzzer, ASan + UBSan) for N seconds
# (default 20) over a scratch copy of the seed corpus. Exits non-zero when the fuzzer finds a bug; the
# crashing input is left in the build folder (crash-*, leak-*, timeout-*).
#   tests/fuzz/run.sh [seconds]        build folder: $MHA2MLA_FUZZ_BUILD, default <repo>/build-fuzz
set -euo pipefail
seconds=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MHA2MLA_FUZZ_BUILD:-$root/build-fuzz}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="${MHA2MLA_FUZZ_CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${MHA2MLA_FUZZ_JOBS:-2}"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$here"/corpus/safetensors/* "$corpus"/
cd "$build"
./safetensors_fuzzer -max_total_time="$seconds" -timeout=10 -max_len=8192 -dict="$here/safetensors.dict" \
  -print_final_stats=1 "$corpus"
