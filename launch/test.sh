#!/usr/bin/env bash
# Runs the whole test suite from a fresh machine: installs, builds, prepares the reference material the
# oracle tests compare against, then ctest. The last lines are ctest's summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash launch/setup.sh
BUILD_DIR=${MHA2MLA_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${MHA2MLA_TEST_JOBS:-$(nproc)}" "$@"
