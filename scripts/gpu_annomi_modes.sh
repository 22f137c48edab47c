#!/usr/bin/env bash
# The AnnoMI folds that need a GPU, in one run (GPU time is scarce: one short, prepared script).
# Every setting is its own process on the one GPU and writes its out-of-fold tags
# (benchmark_annomi.py --save-predictions): the encoder modes (frozen, LoRA, full fine-tune) over
# the same video-grouped folds and seeds, context variants with a fine-tuned encoder, and, given
# the hybrid's per-fold baseline inputs from a CPU machine (JOINT=FILE, written by
# `benchmark_annomi.py --variants hybrid --joint-cache FILE`), the hybrid with a fine-tuned encoder.
# Score them on any machine, next to the baseline:
#   python scripts/benchmark_annomi.py --predictions "LABEL=DIR/a-seed-13.jsonl,DIR/a-seed-14.jsonl" ...
#
# Usage: bash scripts/gpu_annomi_modes.sh OUTDIR [ANNOMI_DIR] [BASE]   (rupturekit importable)
#   SEEDS="13 14 15" FOLDS=5 LIMIT=480 (seconds per process) DEVICE=cuda JOINT=FILE
#   EXTRA="--set transformer.epochs=1"  (more settings for every run, e.g. a dry run on a CPU)
# Leaves OUTDIR/predictions.tar.gz (tags, their .json provenance, one log per run).
set -u
OUT=${1:?usage: gpu_annomi_modes.sh OUTDIR [ANNOMI_DIR] [BASE]}
ANNOMI=${2:-../shared/data/annomi}
BASE=${3:-default}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
LIMIT=${LIMIT:-480}
SEEDS=${SEEDS:-13 14 15}
FOLDS=${FOLDS:-5}
JOINT=${JOINT:-}
EXTRA=${EXTRA:-}
mkdir -p "$OUT/pred"
export PYTHONUNBUFFERED=1
began=$(date +%s)

run() {  # NAME VARIANT MODE SEEDS [more arguments]
  local name=$1 variant=$2 mode=$3 seeds=$4; shift 4
  # shellcheck disable=SC2086 # EXTRA is a list of arguments
  OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false timeout "$LIMIT" "$PY" scripts/benchmark_annomi.py \
    --annomi "$ANNOMI" --variants "$variant" --seeds "$seeds" --folds "$FOLDS" --no-baseline --no-write \
    --bootstrap 20 --tag ", $mode" --save-predictions "$OUT/pred" --set "transformer.encoder_mode=$mode" \
    --set "transformer.base=$BASE" --set "transformer.device=$DEVICE" $EXTRA "$@" > "$OUT/pred/$name.log" 2>&1 \
    && echo "== $(( $(date +%s) - began )) s: $name done" || echo "== $(( $(date +%s) - began )) s: $name failed or ran out of time"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
pids=()
for seed in $SEEDS; do
  run "full-session-$seed" session full "$seed" & pids+=($!)
  # LoRA as measured best before (r 16, encoder learning rate 1e-3)
  run "lora-session-$seed" session lora "$seed" --set transformer.lora_r=16 --set transformer.lora_alpha=32 \
    --set transformer.encoder_learning_rate=1e-3 & pids+=($!)
done
run frozen-session session frozen "$(echo $SEEDS | tr ' ' ',')" & pids+=($!)
first=${SEEDS%% *}
run full-none none full "$first" & pids+=($!)
run full-prev prev full "$first" & pids+=($!)
if [ -n "$JOINT" ]; then
  run full-hybrid hybrid full "$first" --joint-cache "$JOINT" & pids+=($!)
fi
wait "${pids[@]}"
echo "== $(( $(date +%s) - began )) s: all runs ended; packing"
tail -n 3 "$OUT"/pred/*.log
tar -C "$OUT" -czf "$OUT/predictions.tar.gz" pred && rm -rf "$OUT/pred"
ls -la "$OUT"
