"""One tagger contract: both model kinds, loaded as `rupturekit tag` loads them, implement every
member of `rupturekit.tagger.api.Tagger`, and the shared decision members behave alike."""

from __future__ import annotations

import inspect

import pytest

from rupturekit.codebook import parse_codebook
from rupturekit.records import Code, Transcript, Utterance
from rupturekit.tagger.api import Tagger, load_tagger
from rupturekit.tagger.baseline import BaselineTagger
from rupturekit.tagger.config import BaselineConfig
from rupturekit.tagger.dataset import task_examples, tasks_for
from rupturekit.tagger.decisions import UsesDecisions
from rupturekit.tagger.transformer import TransformerTagger

CODEBOOK = """
name: toy
dimensions:
  - name: markers
    role: client
    multi_label: true
    labels:
      - name: rupture.complaint
        definition: Says the therapy is not helping.
      - name: rupture.minimal
        definition: Answers "dunno".
"""
CLIENT = [("Honestly this is not helping.", "rupture.complaint"), ("Dunno.", "rupture.minimal"),
          ("I went to the market with my sister.", "none")]


def _transcripts(n: int) -> list[Transcript]:
    out = []
    for k in range(n):
        utterances = []
        for i in range(6):
            text, label = CLIENT[(k + i) % 3] if i % 2 else ("What happened this week?", "none")
            utterances.append(Utterance(transcript_id=f"t{k}", utterance_id=i, speaker="C" if i % 2 else "T",
                                        role="client" if i % 2 else "therapist", text=text,
                                        codes=[Code(rater="team", label=label)]))
        out.append(Transcript(transcript_id=f"t{k}", utterances=utterances))
    return out


def _members() -> set[str]:
    """Every member the protocol declares: methods, properties and annotated attributes."""
    declared = {name for name in vars(Tagger) if not name.startswith("_")}
    return declared | set(getattr(Tagger, "__annotations__", {}))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """A small baseline model folder, and the shipped default (transformer) model."""
    codebook = parse_codebook(CODEBOOK, "toy.yaml")
    transcripts = _transcripts(6)
    tasks = tasks_for(codebook)
    examples = {task.name: task_examples(transcripts, codebook, task) for task in tasks}
    config = BaselineConfig(use_features=False, min_df=1, calibration_folds=2)
    folder = BaselineTagger(config, codebook, tasks).fit(transcripts, examples).save(tmp_path_factory.mktemp("b"))
    return {"baseline": folder, "transformer": "default"}


@pytest.fixture(params=["baseline", "transformer"])
def tagger(request, models) -> Tagger:
    """Each kind of model, loaded afresh as `rupturekit tag` loads it (a test may change its decisions)."""
    return load_tagger(models[request.param], runtime="torch")


def test_the_protocol_declares_what_the_cli_and_the_api_call():
    assert {"tag", "set_threshold", "set_operating_point", "operating_points", "save"} <= _members()


def test_both_taggers_implement_every_protocol_member(tagger):
    assert type(tagger) in (BaselineTagger, TransformerTagger)
    assert isinstance(tagger, Tagger) and isinstance(tagger, UsesDecisions)
    for name in _members():
        declared = inspect.getattr_static(Tagger, name)
        implemented = inspect.getattr_static(type(tagger), name)
        if isinstance(declared, property):
            assert isinstance(implemented, property), name
        elif callable(declared):
            assert callable(implemented), name
            # the same parameters as the protocol's (a tagger may add optional ones)
            wanted = list(inspect.signature(declared).parameters)
            assert list(inspect.signature(implemented).parameters)[:len(wanted)] == wanted, name


def test_the_shared_decision_members_behave_alike(tagger):
    with pytest.raises(ValueError, match="between 0 and 1"):
        tagger.set_threshold(1.5)
    if tagger.operating_points:
        assert tagger.operating_points == ["balanced", "precision", "recall"]
        with pytest.raises(ValueError):
            tagger.set_operating_point("nowhere")
    else:
        with pytest.raises(ValueError, match="no operating points"):
            tagger.set_operating_point("balanced")
    transcripts = _transcripts(2)
    tagger.set_threshold(1.0)  # nothing reaches a probability of 1: no multi-label tag at all
    tagged = tagger.tag(transcripts)
    client = [u for t in tagged for u in t.utterances if u.role == "client"]
    assert client and all(u.labels == [] and u.scores for u in client)
    assert all(u.labels is None for t in transcripts for u in t.utterances)  # tag() returns copies


def test_a_saved_tagger_loads_and_tags_alike(tagger, tmp_path):
    transcripts = _transcripts(2)
    again = load_tagger(tagger.save(tmp_path / "copy"), runtime="torch")
    assert type(again) is type(tagger)
    assert [u.scores for t in again.tag(transcripts) for u in t.utterances] == \
        [u.scores for t in tagger.tag(transcripts) for u in t.utterances]
