#!/usr/bin/env bash
# The GPU session of issue 14 ("GPU throughput") in one prepared run of about 9 minutes (GPU time
# is scarce). Every step has its own time limit, so a slow step cannot take the others' results:
#   1. smoke test (SMOKE_LIMIT s): the default model on CUDA through the new pipelined path, and one
#      training epoch on six transcripts; stops here if it fails;
#   2. tagging throughput (ROWS_LIMIT s): scripts/bench_tag_gpu.py --copies 10 - the pipelined,
#      batched path against the old one, fp32, a plain bf16 forward and a naive loop; agreement
#      with fp32; where the time goes, stage by stage; every number into OUTDIR/bench_tag_gpu.json
#      as it is measured;
#   3. the timed full AnnoMI fine-tune (TRAIN_LIMIT s): bench_tag_gpu.py --train --no-rows, into
#      the same JSON;
#   4. BENCHMARKS.md's GPU section rendered from that JSON (bench_tag_gpu.py --render), also when
#      a step above ran out of time; copied to OUTDIR.
#   5. only with WITH_FOLDS=1 (adds FOLDS_LIMIT s): scripts/gpu_annomi_modes.sh, the AnnoMI folds of
#      the encoder modes (another issue's numbers; not part of the 9 minutes).
#
# Usage: bash scripts/gpu_benchmarks.sh OUTDIR [ANNOMI_DIR]   (the repository's root as working directory;
#        rupturekit is imported from src/, its dependencies installed)
#   DEVICE=cpu SMOKE_LIMIT=300 COPIES=1 UTTERANCES=300 REPEATS=1 NAIVE=20 TRAIN_EPOCHS=1 TRANSCRIPTS=4: a dry
#   run of this script's plumbing on a CPU (not a benchmark; BENCHMARKS.md is left alone).
# Leaves in OUTDIR: log.txt, bench_tag_gpu.json, BENCHMARKS.md (with the GPU section).
set -u
OUT=${1:?usage: gpu_benchmarks.sh OUTDIR [ANNOMI_DIR]}
ANNOMI=${2:-../shared/data/annomi}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SMOKE_LIMIT=${SMOKE_LIMIT:-100}
ROWS_LIMIT=${ROWS_LIMIT:-250}
TRAIN_LIMIT=${TRAIN_LIMIT:-150}
FOLDS_LIMIT=${FOLDS_LIMIT:-270}
COPIES=${COPIES:-10}
REPEATS=${REPEATS:-3}
NAIVE=${NAIVE:-1000}
UTTERANCES=${UTTERANCES:+--limit $UTTERANCES}
TRANSCRIPTS=${TRANSCRIPTS:+--transcripts $TRANSCRIPTS}
TRAIN_EPOCHS=${TRAIN_EPOCHS:+--train-epochs $TRAIN_EPOCHS}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
JSON="$OUT/bench_tag_gpu.json"
rm -f "$JSON"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
began=$(date +%s)
stamp() { echo "== $(( $(date +%s) - began )) s: $*"; }
BENCH=("$PY" scripts/bench_tag_gpu.py --data "$ANNOMI/AnnoMI-simple.csv" --device "$DEVICE" --json "$JSON")

stamp "smoke test"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout "$SMOKE_LIMIT" "$PY" - "$ANNOMI" "$DEVICE" <<'PY' || { stamp "smoke test failed: stopping"; exit 1; }
import sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch, transformers, peft
warnings.simplefilter("ignore")
device = sys.argv[2]
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__,
      "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(0))
import rupturekit
from rupturekit.records import write_jsonl
from rupturekit.tagger.config import load_train_config
from rupturekit.tagger.transformer import InferenceSettings, TransformerTagger, load_default
from rupturekit.tagger.transformer_train import train_transformer
transcripts = rupturekit.read(str(Path(sys.argv[1]) / "AnnoMI-simple.csv"))
tagger = load_default(device=device)
print("default model on", tagger.device, tagger.precision, tagger.settings)
# predict, not tag: tag() adds spaCy cue evidence for 3RS labels, which this machine may lack
new = tagger.predict(transcripts[:8])
tagger.inference = InferenceSettings(pipeline=False, dialogue_slots=0)
old = tagger.predict(transcripts[:8])
print("new path against the old on 8 transcripts: max |p - p_old|",
      max(float(np.abs(new[k] - old[k]).max()) for k in new))
folder = Path(tempfile.mkdtemp())
write_jsonl(transcripts[:6], folder / "six.jsonl")
config = load_train_config("configs/annomi.yaml", [f"data.0.path={folder / 'six.jsonl'}", "transformer.epochs=1",
                                                   "transformer.hybrid=none", "transformer.ensemble=1",
                                                   "transformer.encoder_mode=full", f"transformer.device={device}"])
began = time.perf_counter()
train_transformer(config, folder / "model", progress=print)
print(f"one epoch on six transcripts: {time.perf_counter() - began:.1f} s;",
      len(TransformerTagger.load(folder / "model", device=device).predict(transcripts[:1])), "tasks predicted")
PY

stamp "tagging throughput: pipelined and batched against the old path (bench_tag_gpu.py)"
# shellcheck disable=SC2086  # UTTERANCES, TRANSCRIPTS, TRAIN_EPOCHS: empty, or an option and its value
timeout "$ROWS_LIMIT" "${BENCH[@]}" --repeats "$REPEATS" --copies "$COPIES" --naive "$NAIVE" $UTTERANCES $TRANSCRIPTS \
  --no-write \
  || stamp "the throughput rows failed or ran out of time (what they measured is in $JSON)"

stamp "a timed full AnnoMI fine-tune (bench_tag_gpu.py --train)"
# shellcheck disable=SC2086
timeout "$TRAIN_LIMIT" "${BENCH[@]}" --train --no-rows $TRAIN_EPOCHS $TRANSCRIPTS --no-write \
  || stamp "the fine-tune failed or ran out of time"

stamp "BENCHMARKS.md's GPU section from $JSON"
if [ -s "$JSON" ] && [ "$DEVICE" != "cpu" ]; then
  "$PY" scripts/bench_tag_gpu.py --render "$JSON" && cp BENCHMARKS.md "$OUT/BENCHMARKS.md"
else
  stamp "not written (a CPU dry run, or no numbers)"
fi

if [ "${WITH_FOLDS:-0}" = 1 ]; then
  stamp "AnnoMI folds: encoder modes, seeds and context, in parallel (scripts/gpu_annomi_modes.sh)"
  LIMIT="$FOLDS_LIMIT" DEVICE="$DEVICE" PYTHON="$PY" bash scripts/gpu_annomi_modes.sh "$OUT" "$ANNOMI"
fi
stamp "done"
ls -la "$OUT"
