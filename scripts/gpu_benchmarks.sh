#!/usr/bin/env bash
# The benchmarks that need a CUDA GPU, in one run (GPU time is scarce: one short, prepared script):
#   1. smoke test: the default model on CUDA, one training epoch on six transcripts (stops here if it fails);
#   2. scripts/bench_tag_gpu.py --train: tagging throughput (bf16) and a timed full AnnoMI fine-tune;
#   3. scripts/gpu_annomi_modes.sh: the AnnoMI folds of the encoder modes, seeds and context variants, in
#      parallel on the one GPU, with --save-predictions; score them anywhere with benchmark_annomi.py --predictions.
# Every step has its own time limit, so a slow step cannot take the others' results with it.
#
# Usage: bash scripts/gpu_benchmarks.sh OUTDIR [ANNOMI_DIR]   (rupturekit importable, e.g. pip install -e .)
# Leaves in OUTDIR: log.txt, BENCHMARKS.md (with the GPU section), bench_tag_gpu.json, predictions.tar.gz.
set -u
OUT=${1:?usage: gpu_benchmarks.sh OUTDIR [ANNOMI_DIR]}
ANNOMI=${2:-../shared/data/annomi}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}           # cpu: a dry run of this script's plumbing, not a benchmark
BENCH_LIMIT=${BENCH_LIMIT:-200}  # seconds for step 2
FOLDS_LIMIT=${FOLDS_LIMIT:-270}  # seconds for step 3 (all settings at once)
mkdir -p "$OUT/pred"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
began=$(date +%s)
stamp() { echo "== $(( $(date +%s) - began )) s: $*"; }

stamp "smoke test"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 120 "$PY" - "$ANNOMI" "$DEVICE" <<'PY' || { stamp "smoke test failed: stopping"; exit 1; }
import sys, tempfile, time, warnings
from pathlib import Path
import torch, transformers, peft
warnings.simplefilter("ignore")
device = sys.argv[2]
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__,
      "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(0))
import rupturekit
from rupturekit.records import write_jsonl
from rupturekit.tagger.config import load_train_config
from rupturekit.tagger.transformer import TransformerTagger, load_default
from rupturekit.tagger.transformer_train import train_transformer
transcripts = rupturekit.read(str(Path(sys.argv[1]) / "AnnoMI-simple.csv"))
tagger = load_default(device=device)
# predict, not tag: tag() adds spaCy cue evidence for 3RS labels, which this machine may lack
print("default model on", tagger.device, "-", {k: v.shape for k, v in tagger.predict(transcripts[:2]).items()})
folder = Path(tempfile.mkdtemp())
write_jsonl(transcripts[:6], folder / "six.jsonl")
config = load_train_config("configs/annomi.yaml", [f"data.0.path={folder / 'six.jsonl'}", "transformer.epochs=1", "transformer.hybrid=none", "transformer.ensemble=1", "transformer.encoder_mode=full",
                                                   f"transformer.device={device}"])
began = time.perf_counter()
train_transformer(config, folder / "model", progress=print)
print(f"one epoch on six transcripts: {time.perf_counter() - began:.1f} s;",
      len(TransformerTagger.load(folder / "model").tag(transcripts[:1])[0].utterances), "utterances tagged")
PY

stamp "tagging throughput and a timed AnnoMI fine-tune"
# 2 copies of AnnoMI: with 10, and tokenizer threads off, this step outran its limit on an H100 machine
timeout "$BENCH_LIMIT" "$PY" scripts/bench_tag_gpu.py --data "$ANNOMI/AnnoMI-simple.csv" --repeats 3 --copies 2 \
  --naive 1000 --train --json "$OUT/bench_tag_gpu.json" --device "$DEVICE" || stamp "bench_tag_gpu failed or ran out of time"
cp BENCHMARKS.md "$OUT/BENCHMARKS.md"

stamp "AnnoMI folds: encoder modes, seeds and context, in parallel (scripts/gpu_annomi_modes.sh)"
LIMIT="$FOLDS_LIMIT" DEVICE="$DEVICE" PYTHON="$PY" bash scripts/gpu_annomi_modes.sh "$OUT" "$ANNOMI"
stamp "done"
ls -la "$OUT"
