#!/usr/bin/env bash
# calibrate + convert end to end on the tiny Qwen2.5-VL and LLaVA: two MPI ranks give the statistics of one process
# on the same samples, appending equals one longer run, and convert with the calibrated strategies writes a folder
# that loads back with its mla block and report.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compare() {  # two calibration folders: every tensor and count equal (sums over the same samples, any order)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys, os
sys.path.insert(0, os.path.join(os.environ["MHA2MLA_SOURCE_DIR"], "tests", "python"))
import numpy as np
from reference.checkpoint import read_safetensors
a, b = sys.argv[1], sys.argv[2]
ma, mb = (json.load(open(os.path.join(d, "manifest.json"))) for d in (a, b))
for key in ("samples", "held_out_samples", "tokens", "held_out_tokens"):
    assert ma[key] == mb[key], f"{key}: {ma[key]} vs {mb[key]}"
ta, tb = (read_safetensors(os.path.join(d, "calibration.safetensors")) for d in (a, b))
assert ta.keys() == tb.keys()
for name in ta:
    x, y = ta[name].numpy(), tb[name].numpy()
    scale = max(1e-12, np.abs(x).max())
    # The model runs in float32 and the two runs batch (so pad) the samples differently: float32 rounding only.
    assert np.abs(x - y).max() / scale < 5e-5, f"{name} differs by {np.abs(x - y).max() / scale:.2e}"
print(f"{a} == {b}: {len(ta)} tensors, {ma['samples']} samples")
PY
}

for arch in qwen2_5_vl llava; do
  "$MHA2MLA" make-tiny --arch "$arch" --out "models/$arch" >/dev/null 2>&1
  "$MHA2MLA" make-data --format llava_json --out "data-$arch" --samples 24 >/dev/null 2>&1
  cat > "$arch.yaml" <<YAML
run:
  output_dir: out-$arch
model:
  path: models/$arch
data:
  datasets:
    - path: data-$arch/data.json
  batch_size: 2
  shuffle_buffer: 0
  max_length: 512
calibrate:
  samples: 12
  held_out: 4
convert:
  rope_dims: 8
  latent_rank: 8
  strategy: mkl
  init: activation_svd
YAML
  "$MHA2MLA" calibrate "$arch.yaml" calibrate.output=single >/dev/null 2>&1 || fail "$arch: calibrate (one process)"
  "${MPIRUN[@]}" "$MHA2MLA" calibrate "$arch.yaml" calibrate.output=two-ranks >/dev/null 2>&1 || fail "$arch: calibrate (mpirun -np 2)"
  compare "out-$arch/single" "out-$arch/two-ranks"

  strategies="mkl"
  if [ "$arch" = qwen2_5_vl ]; then
    strategies="mkl 2norm_modality"
    "$MHA2MLA" calibrate "$arch.yaml" calibrate.output=appended calibrate.samples=6 calibrate.held_out=0 >/dev/null 2>&1
    "$MHA2MLA" calibrate "$arch.yaml" calibrate.output=appended calibrate.samples=6 calibrate.held_out=0 calibrate.append=true >/dev/null 2>&1
    "$MHA2MLA" calibrate "$arch.yaml" calibrate.output=whole calibrate.samples=12 calibrate.held_out=0 >/dev/null 2>&1
    compare "out-$arch/appended" "out-$arch/whole"
  fi

  for strategy in $strategies; do
    "$MHA2MLA" convert "$arch.yaml" convert.calibration=single convert.strategy=$strategy \
      convert.output=converted-$strategy > "convert-$arch-$strategy.log" 2>&1 || { cat "convert-$arch-$strategy.log"; fail "$arch: convert $strategy"; }
    /usr/bin/python3 - "out-$arch/converted-$strategy" <<'PY' || fail "$arch: converted folder"
import json, sys, os
folder = sys.argv[1]
config = json.load(open(os.path.join(folder, "config.json")))
report = json.load(open(os.path.join(folder, "convert_report.json")))
mla = config["mla"]
assert mla["rope_dims"] == 8 and mla["latent_rank"] == 8, mla
assert all(len(pairs) == 4 for layer in mla["layers"] for pairs in layer["rope_pairs"])
# KV bytes per token: layers x n_kv x (r + d_kv) bf16 elements + a modality bit per layer; teacher 2 n_kv d_h.
text = config.get("text_config", config)
layers, kv, head_dim = text["num_hidden_layers"], text["num_key_value_heads"], text.get("head_dim", 32)
assert report["kv_cache"]["student_bytes_per_token"] == layers * (kv * (8 + 8) * 2 + 1 / 8), report["kv_cache"]
assert report["kv_cache"]["teacher_bytes_per_token"] == layers * 2 * kv * head_dim * 2, report["kv_cache"]
for layer in report["layers"]:
    for m in layer["factorisation"]:
        assert m["activation_svd"]["activation_error"] < m["plain_svd"]["activation_error"], (folder, layer["layer"], m)
for name in ("model.safetensors", "tokenizer.json", "recipe.yaml"):
    assert os.path.exists(os.path.join(folder, name)), name
print(folder, "ok:", report["kv_cache"])
PY
  done
done
echo "calibrate/convert end to end: ok"
