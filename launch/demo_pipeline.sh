#!/usr/bin/env bash
# The built-in demo's pipeline, after the build (launch/quickstart.sh runs setup, then this):
#
#   data      make-data: the synthetic shapes VQA task (84x84 images, one question, one-word answers)
#   teacher   make-tiny --size demo + `mha2mla train` (SFT from scratch), cached by a hash of everything it depends on
#   calibrate / convert    MHA -> MLA at >= 75% smaller KV cache (recipes/demo/convert.yaml)
#   eval      teacher and converted student before fine-tuning
#   distill   `mha2mla train` with the default recipe: local activation distillation, latent projections + LoRA
#   eval      after fine-tuning
#   export    hf-mla folder
#   report    the table: KV bytes/token, accuracies, activation errors, wall time per stage
#
# Environment (all optional):
#   MHA2MLA_BIN            the mha2mla binary (default build/mha2mla)
#   MHA2MLA_DEMO_DIR       where this run writes (default runs/demo)
#   MHA2MLA_DEMO_CACHE     teacher cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/mha2mla)
#   MHA2MLA_DEMO_PROFILE   full (default) or short: fewer samples and steps (the CI test, tests/e2e/)
#   MHA2MLA_DEMO_RETRAIN   1: train the teacher even when a cached one exists
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BIN=$(realpath "${MHA2MLA_BIN:-${MHA2MLA_BUILD_DIR:-build}/mha2mla}")
DEMO=$(realpath -m "${MHA2MLA_DEMO_DIR:-runs/demo}")
CACHE_ROOT=$(realpath -m "${MHA2MLA_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mha2mla}")
PROFILE=${MHA2MLA_DEMO_PROFILE:-full}
PYTHON=${MHA2MLA_PYTHON:-python3}
RECIPES=$ROOT/recipes/demo

# The two profiles: the same stages and recipes, different sizes. The teacher's hash covers these numbers.
case "$PROFILE" in
  full)
    SAMPLES=12000; DATA_SEED=7; TEACHER_SEED=1234
    TEACHER_OVERRIDES=()
    STAGE_OVERRIDES=()
    ;;
  short)
    SAMPLES=4000; DATA_SEED=7; TEACHER_SEED=1234
    TEACHER_OVERRIDES=(train.steps=400)
    STAGE_OVERRIDES=(data.held_out=100 eval.samples=100 calibrate.samples=128 calibrate.held_out=16)
    ;;
  *) echo "demo: MHA2MLA_DEMO_PROFILE must be full or short, not '$PROFILE'" >&2; exit 2 ;;
esac
DISTILL_OVERRIDES=()
[ "$PROFILE" = short ] && DISTILL_OVERRIDES=(train.steps=100)

[ -x "$BIN" ] || { echo "demo: $BIN not found; build first (bash launch/setup.sh)" >&2; exit 1; }
mkdir -p "$DEMO"
# A fresh run: what an earlier run left would be resumed from (checkpoints) or mixed into the report.
for old in data calibration converted trained checkpoints export logs tensorboard eval_before.json eval_after.json \
           metrics.jsonl stage_times.tsv report.md summary.json teacher; do
  rm -rf "${DEMO:?}/$old"
done
TIMES=$DEMO/stage_times.tsv
: > "$TIMES"
LOG=$DEMO/logs
mkdir -p "$LOG"

# Runs one stage, logging its output to logs/<name>.log (shown on failure) and its wall time to stage_times.tsv.
stage() {
  local name=$1 note=$2
  shift 2
  echo "demo: [$name] $note"
  local start end
  start=$(date +%s%N)
  if ! "$@" > "$LOG/$name.log" 2>&1; then
    echo "demo: stage '$name' failed; the end of $LOG/$name.log:" >&2
    tail -n 40 "$LOG/$name.log" >&2
    exit 1
  fi
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000))
  printf '%s\t%d.%03d\t%s\n' "$name" $((ms / 1000)) $((ms % 1000)) "$note" >> "$TIMES"
  echo "demo: [$name] done in $((ms / 1000)).$((ms % 1000 / 100)) s"
}

export MHA2MLA_DEMO_RUN=$DEMO
export MHA2MLA_DEMO_DATA=$DEMO/data

# 1. Data.
stage data "make-data: $SAMPLES shapes VQA samples (one shape, its colour)" \
  "$BIN" make-data --format llava_json --task vqa --out "$DEMO/data" --samples "$SAMPLES" --seed "$DATA_SEED" \
    --min-side 84 --max-side 84 --max-shapes 1 --questions colour

# 2. Teacher: cached under a hash of the recipes, the profile's numbers, the data and the code it depends on.
teacher_key() {
  {
    echo "profile=$PROFILE samples=$SAMPLES data_seed=$DATA_SEED teacher_seed=$TEACHER_SEED"
    echo "overrides=${TEACHER_OVERRIDES[*]:-}"
    "$BIN" --version
    cat "$RECIPES/base.yaml" "$RECIPES/teacher.yaml" "$DEMO/data/data.json"
    (cd "$ROOT" && find common data model trainer distributed -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.proto' \) \
       | LC_ALL=C sort | xargs cat)
  } | sha256sum | cut -c1-16
}
KEY=$(teacher_key)
TEACHER_HOME=$CACHE_ROOT/demo-teacher-$KEY
export MHA2MLA_DEMO_TEACHER=$TEACHER_HOME/run/teacher
if [ "${MHA2MLA_DEMO_RETRAIN:-0}" = 1 ] || [ ! -f "$TEACHER_HOME/DONE" ]; then
  # Train into a private folder and rename it into place when complete, so an interrupted or concurrent run
  # never leaves (or reads) a half-written teacher.
  PARTIAL=$CACHE_ROOT/.demo-teacher-$KEY.partial-$$
  rm -rf "$PARTIAL"
  mkdir -p "$PARTIAL"
  train_teacher() {
    "$BIN" make-tiny --arch qwen2_5_vl --size demo --seed "$TEACHER_SEED" --out "$PARTIAL/init" &&
      MHA2MLA_DEMO_TEACHER_RUN=$PARTIAL/run MHA2MLA_DEMO_TEACHER_INIT=$PARTIAL/init \
        "$BIN" train "$RECIPES/teacher.yaml" "${TEACHER_OVERRIDES[@]}"
  }
  stage teacher "train the teacher from scratch (SFT), cache $TEACHER_HOME" train_teacher
  rm -rf "$PARTIAL/run/checkpoints"   # the teacher folder is what later stages read
  date -u +%FT%TZ > "$PARTIAL/DONE"
  rm -rf "$TEACHER_HOME"
  mv "$PARTIAL" "$TEACHER_HOME"
else
  stage teacher "cached teacher $TEACHER_HOME" test -f "$MHA2MLA_DEMO_TEACHER/config.json"
fi

# The run folder names its teacher: runs/demo/teacher, for rerunning stages by hand (docs/quickstart.md).
ln -sfn "$MHA2MLA_DEMO_TEACHER" "$DEMO/teacher"

# 3. Calibrate and convert.
stage calibrate "calibration statistics on the teacher" "$BIN" calibrate "$RECIPES/calibrate.yaml" "${STAGE_OVERRIDES[@]}"
stage convert "MHA -> MLA" "$BIN" convert "$RECIPES/convert.yaml" "${STAGE_OVERRIDES[@]}"

# 4. Evaluate teacher and converted student, fine-tune, evaluate again.
evaluate() {  # evaluate STUDENT_FOLDER OUT_JSON: held-out exact match of teacher and student, activation error, KV bytes
  "$BIN" eval "$RECIPES/eval.yaml" "${STAGE_OVERRIDES[@]}" eval.student="$1" eval.output="$2"
}
stage eval_before "accuracy of teacher and converted student" evaluate "$DEMO/converted" "$DEMO/eval_before.json"
stage distill "default distillation: local activation loss, latents + LoRA" \
  "$BIN" train "$RECIPES/distill.yaml" "${STAGE_OVERRIDES[@]}" "${DISTILL_OVERRIDES[@]}"
stage eval_after "accuracy after fine-tuning" evaluate "$DEMO/trained" "$DEMO/eval_after.json"

# 5. Export.
stage export "hf-mla checkpoint" "$BIN" export "$RECIPES/export.yaml" "${STAGE_OVERRIDES[@]}"

# 6. The table.
"$PYTHON" "$ROOT/launch/demo_report.py" "$DEMO"
