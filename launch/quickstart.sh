#!/usr/bin/env bash
# The main command (README, docs/quickstart.md): set up the machine, build, and run the built-in demo end to end:
# train a tiny Qwen2.5-VL-layout teacher on the synthetic shapes task (cached after the first run), convert it to
# MLA at >= 75% smaller KV cache, distil, evaluate, export, and print the table (launch/demo_pipeline.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash launch/setup.sh
export MHA2MLA_BIN=${MHA2MLA_BIN:-${MHA2MLA_BUILD_DIR:-build}/mha2mla}
"$MHA2MLA_BIN" info
bash launch/demo_pipeline.sh
