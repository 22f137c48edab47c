"""The default fast path of `rupturekit tag`: ONNX Runtime on a CPU by default, and cue evidence
computed only for the labels that fired, from only the features they draw on."""

import inspect
import re

import numpy as np
import pytest

from rupturekit.features import FeatureExtractor
from rupturekit.features.definitions import FEATURES, RUPTURE_CUES
from rupturekit.features.registry import REGISTRY, with_needs
from rupturekit.records import Transcript, Utterance
from rupturekit.tagger.transformer import _relevant_features, evidence_lists

CLIENT = ["I don't know. Fine.", "Ha ha, my father died last month, it's fine.", "This isn't helping at all.",
          "Why do you always ask that? You never listen.", "Whatever you think.", "I'm hopeless, I ruin everything."]
THERAPIST = ["What would you like to talk about today?", "It sounds like the same thing happens with your manager.",
             "I hear that this felt unhelpful; maybe I pushed too fast.", "What was that like for you?"]


def transcript(tid: str, shift: int = 0, n: int = 12) -> Transcript:
    utterances = []
    for i in range(n):
        client = i % 2 == 1
        pool = CLIENT if client else THERAPIST
        utterances.append(Utterance(transcript_id=tid, utterance_id=i, speaker="C" if client else "T",
                                    role="client" if client else "therapist", text=pool[(i + shift) % len(pool)]))
    return Transcript(transcript_id=tid, utterances=utterances)


def test_every_feature_declares_the_features_it_reads():
    for spec, function in REGISTRY:
        source = inspect.getsource(function)
        read = set(re.findall(r'c\.columns\["(\w+)"\]', source))
        if "RUPTURE_CUES" in source:
            read |= set(RUPTURE_CUES)
        assert read == set(spec.needs), spec.name


def test_with_needs_closes_over_what_features_read():
    assert with_needs({"short_after_open_question"}) == {"short_after_open_question", "dont_know",
                                                         "backchannel_only", "prev_open_question"}
    assert with_needs({"links_inside"}) == {"links_inside", "pattern_language", "metacommunication"}
    assert with_needs({"prev_rupture_cues"}) >= set(RUPTURE_CUES) | with_needs({"affect_split"})


def test_a_subset_of_features_equals_the_same_columns_of_all():
    corpus = [transcript("a"), transcript("b", 3)]
    full = FeatureExtractor(embeddings=False)(corpus)
    only = {"affect_split", "links_outside", "short_after_open_question", "prev_rupture_cues"}
    part = FeatureExtractor(embeddings=False)(corpus, only=only)
    computed = with_needs(only)
    for k, name in enumerate(full.names):
        if name in computed:
            np.testing.assert_array_equal(part.values[:, k], full.values[:, k], err_msg=name)
        else:
            assert not part.values[:, k].any(), name
    assert part.values[:, full.names.index("affect_split")].sum() > 0  # a known answer: "Ha ha ... died"


@pytest.mark.parametrize("only", [None, {"affect_split", "prev_rupture_cues", "short_after_open_question"},
                                  {"len_vs_own_median", "denial_after_feeling_named", "latency_s"}])
def test_focus_rows_get_exactly_the_values_of_a_full_extraction(only):
    corpus = [transcript("a", n=20), transcript("b", 3, n=15)]
    full = FeatureExtractor(embeddings=False)(corpus)
    focus = np.zeros(35, bool)
    focus[[5, 12, 19, 26]] = True  # client and therapist turns, the last of a transcript
    part = FeatureExtractor(embeddings=False)(corpus, only=only, focus=focus)
    columns = [k for k, name in enumerate(full.names) if only is None or name in with_needs(only)]
    np.testing.assert_array_equal(part.values[np.ix_(focus, columns)], full.values[np.ix_(focus, columns)])
    assert full.values[np.ix_(focus, columns)].any()


def test_evidence_depends_only_on_the_utterances_own_transcript():
    labels = [spec.markers[0] for spec in FEATURES if spec.markers]
    relevant = _relevant_features(sorted(set(labels)))
    a, b = transcript("a"), transcript("b", 2, n=30)
    predicted = {1: ["withdrawal.content_affect_split", "withdrawal.minimal_response"],
                 3: ["confrontation.complaint_therapist"]}
    alone = evidence_lists([a], predicted, relevant)
    with_b = evidence_lists([b, a], {row + len(b.utterances): v for row, v in predicted.items()}, relevant)
    assert alone == {row - len(b.utterances): v for row, v in with_b.items()}
    # "Ha ha, my father died last month, it's fine.": four flags, in registry order
    assert alone[1]["withdrawal.content_affect_split"] == [["laughter", 1.0], ["minimizing", 1.0],
                                                          ["painful_content", 1.0], ["affect_split", 1.0]]
    assert alone[3]["confrontation.complaint_therapist"]


def test_no_features_are_computed_without_a_tag(monkeypatch):
    def fails(*args, **kwargs):
        raise AssertionError("features computed")

    monkeypatch.setattr(FeatureExtractor, "__call__", fails)
    assert evidence_lists([transcript("a")], {}, {}) == {}
    assert evidence_lists([transcript("a")], {1: ["x"]}, {"x": []}) == {1: {"x": []}}


def test_auto_runtime_is_onnx_on_a_cpu(tmp_path):
    pytest.importorskip("onnxruntime")
    import torch

    from rupturekit.tagger.transformer import _auto_runtime

    assert _auto_runtime(torch.device("cpu")) == "onnx"
    assert _auto_runtime(torch.device("meta")) == "torch"  # any device but the CPU keeps torch


def test_auto_falls_back_to_torch_when_the_onnx_encoder_cannot_be_made(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    from rupturekit.errors import InputError
    from rupturekit.tagger import onnx_runtime
    from rupturekit.tagger.api import load_tagger

    def unwritable(*args, **kwargs):
        raise InputError(str(tmp_path), "cannot write the ONNX encoder", "set RUPTUREKIT_CACHE to a writable folder")

    monkeypatch.setenv("RUPTUREKIT_CACHE", str(tmp_path / "empty-cache"))  # nothing cached: an export is needed
    monkeypatch.setattr(onnx_runtime, "attach", unwritable)
    with pytest.warns(UserWarning, match="tagging with torch instead"):
        tagger = load_tagger("default", runtime="auto")
    assert tagger.runtime == "torch"
    with pytest.raises(InputError, match="cannot write the ONNX encoder"):
        load_tagger("default", runtime="onnx")  # asked for by name: the error stands


def test_declared_flags_are_zero_or_one_and_the_rest_are_not_all_flags():
    """`flag=True` is what makes a feature a labeling function and lead the evidence: the declared
    flags are 0 or 1 on a corpus, and features that are counts or rates are not declared flags."""
    corpus = [transcript("a", n=30), transcript("b", 3, n=30), transcript("c", 5, n=30)]
    table = FeatureExtractor(embeddings=False)(corpus)
    flags = [spec.name for spec in FEATURES if spec.flag]
    assert len(flags) == 52
    for name in flags:
        assert set(np.unique(table.column(name))) <= {0.0, 1.0}, name
    counts = [name for name in ("word_count", "hedge_rate", "vader_compound") if name not in flags]
    assert counts == ["word_count", "hedge_rate", "vader_compound"]
    assert any(set(np.unique(table.column(name))) - {0.0, 1.0} for name in counts)
