"""One tagger contract: both model kinds, loaded as `rupturekit tag` loads them, implement every
member of `rupturekit.tagger.api.Tagger`, and the shared decision members behave alike."""

from __future__ import annotations

import inspect

import pytest
from test_baseline import TOY_CODEBOOK, fast_config, fit, toy_transcripts

from rupturekit.codebook import parse_codebook
from rupturekit.tagger.api import Tagger, load_tagger
from rupturekit.tagger.baseline import BaselineTagger
from rupturekit.tagger.decisions import UsesDecisions
from rupturekit.tagger.transformer import TransformerTagger


def _members() -> set[str]:
    """Every member the protocol declares: methods, properties and annotated attributes."""
    declared = {name for name in vars(Tagger) if not name.startswith("_")}
    return declared | set(getattr(Tagger, "__annotations__", {}))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """A small baseline model folder (test_baseline's toy corpus), and the shipped default (transformer) model."""
    baseline = fit(parse_codebook(TOY_CODEBOOK, "toy.yaml"), toy_transcripts(8, seed=1), fast_config())
    return {"baseline": baseline.save(tmp_path_factory.mktemp("baseline")), "transformer": "default"}


@pytest.fixture(params=["baseline", "transformer"])
def tagger(request, models) -> Tagger:
    """Each kind of model, loaded afresh as `rupturekit tag` loads it (a test may change its decisions)."""
    return load_tagger(models[request.param], runtime="torch")


def test_the_protocol_declares_what_the_cli_and_the_api_call():
    assert {"tag", "set_threshold", "set_operating_point", "operating_points", "save", "runtime"} <= _members()


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
    transcripts = toy_transcripts(2, seed=5, prefix="new")
    tagger.set_threshold(1.0)  # nothing reaches a probability of 1: no multi-label tag at all
    tagged = tagger.tag(transcripts)
    client = [u for t in tagged for u in t.utterances if u.role == "client"]
    assert client and all(u.labels == [] and u.scores for u in client)
    assert all(u.labels is None for t in transcripts for u in t.utterances)  # tag() returns copies


def test_a_saved_tagger_loads_and_tags_alike(tagger, tmp_path):
    transcripts = toy_transcripts(2, seed=5, prefix="new")
    again = load_tagger(tagger.save(tmp_path / "copy"), runtime="torch")
    assert type(again) is type(tagger)
    assert [u.scores for t in again.tag(transcripts) for u in t.utterances] == \
        [u.scores for t in tagger.tag(transcripts) for u in t.utterances]


def test_tagging_a_tagged_file_keeps_none_of_its_old_tags(tagger):
    transcripts = toy_transcripts(1, seed=5, prefix="new")
    stale = {"labels": ["x.old"], "scores": {"x.old": 0.9}, "evidence": {"x.old": [("cue", 1.0)]},
             "uncertain": {"x": "x.old"}}
    old = [t.model_copy(update={"utterances": [u.model_copy(update=stale) for u in t.utterances]})
           for t in transcripts]
    fresh, again = tagger.tag(transcripts), tagger.tag(old)
    assert [u.model_dump() for t in again for u in t.utterances] == \
        [u.model_dump() for t in fresh for u in t.utterances]
    assert all(u.uncertain is None or "x" not in u.uncertain for t in again for u in t.utterances)
