#!/usr/bin/env bash
# The main job on the built-in tiny model: set up, build, and run the pipeline that exists so far.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash launch/setup.sh
BIN=${MHA2MLA_BUILD_DIR:-build}/mha2mla
"$BIN" info
