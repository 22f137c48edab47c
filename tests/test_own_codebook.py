"""README, "Train your own model": the section's commands, parsed from its ```bash blocks and run as
written (from a copy of tutorial/ as the current folder), so the section cannot rot.

The one change: the transformer is trained over a tiny random BERT (1 epoch) instead of the packaged
encoder, to keep the test fast; everything else, the baseline included, runs exactly as shown."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tiny_bert
from typer.testing import CliRunner

from rupturekit.cli import app
from rupturekit.records import read_jsonl

SECTION = "### Train your own model"
TUTORIAL = ROOT / "tutorial" / "own-codebook"
DIMENSIONS = {"client_report": ("client", ["report.done", "report.skipped", "report.other"]),
              "therapist_response": ("therapist", ["response.ask", "response.credit", "response.plan"])}
OWN_LABELS = {label for _, labels in DIMENSIONS.values() for label in labels}
LABELS_OF_ROLE = {role: set(labels) for role, labels in DIMENSIONS.values()}


def section_commands() -> list[list[str]]:
    """The command lines of the section's ```bash blocks, in order, split as a shell would."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(f"\n{SECTION}\n")
    end = readme.index("\n### ", start + len(SECTION) + 2)
    blocks = re.findall(r"```bash\n(.*?)\n```", readme[start:end], re.S)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()
            if shlex.split(line, comments=True)]


def tiny_base(folder: Path) -> Path:
    """A random 2-layer BERT with a word-piece vocabulary of the tutorial's sessions."""
    texts = [line for name in ("sessions.csv", "new-sessions.csv")
             for line in (TUTORIAL / name).read_text(encoding="utf-8").splitlines()]
    return tiny_bert(folder, texts, vocab_size=400)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory) -> dict:
    """Run every command of the section in a folder holding a copy of tutorial/; keep the outputs."""
    root = tmp_path_factory.mktemp("own")
    shutil.copytree(ROOT / "tutorial", root / "tutorial")
    base = tiny_base(tmp_path_factory.mktemp("base"))
    runner = CliRunner()
    stdout: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("RUPTUREKIT_CACHE", str(root / "cache"))  # the frozen encoder's vectors
        patch.delenv("RUPTUREKIT_CODEBOOKS", raising=False)
        for command in section_commands():
            assert command[0] == "rupturekit", command
            args = command[1:]
            if args[0] == "train" and args[1].endswith("train-transformer.yaml"):
                args += ["--set", f"transformer.base={base}", "--set", "transformer.epochs=1",
                         "--set", "transformer.max_length=32", "--set", "transformer.window_stride=24",
                         "--set", "transformer.device=cpu"]
            result = runner.invoke(app, args, catch_exceptions=False)
            assert result.exit_code == 0, f"{shlex.join(command)}\n{result.output}"
            stdout[args[0] if args[0] not in ("codebook", "codes") else " ".join(args[:2])] = result.stdout
        # Step 4's note: the same tag command with the transformer model.
        [tag] = [c[1:] for c in section_commands() if c[1] == "tag"]
        tag = [{"out/own/model": "out/own/model-transformer",
                "out/own/tags.jsonl": "out/own/tags-transformer.jsonl"}.get(a, a) for a in tag]
        result = runner.invoke(app, tag, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return {"root": root, "stdout": stdout}


def test_the_section_runs_the_five_steps_in_order():
    steps = [" ".join(c[1:3]) if c[1] in ("codebook", "codes") else c[1] for c in section_commands()]
    assert steps == ["codebook show", "ingest", "codes import", "train", "train", "tag", "ingest", "codes import",
                     "agree"]


def test_codebook_show_prints_the_own_codebook(walkthrough):
    shown = walkthrough["stdout"]["codebook show"]
    assert "homework, 6 labels" in shown
    for name in [*DIMENSIONS, *OWN_LABELS]:
        assert name in shown


def test_codes_are_attached_by_rater(walkthrough):
    out = walkthrough["root"] / "out" / "own"
    coded = [u for t in read_jsonl(out / "coded.jsonl") for u in t.utterances]
    assert len(coded) == 80 and all([c.rater for c in u.codes] == ["ana"] for u in coded)
    new = [u for t in read_jsonl(out / "new-coded.jsonl") for u in t.utterances]
    assert len(new) == 20 and all(sorted(c.rater for c in u.codes) == ["ana", "ben"] for u in new)
    for utterance in coded + new:
        assert {c.label for c in utterance.codes} <= LABELS_OF_ROLE[utterance.role]


@pytest.mark.parametrize("folder", ["model", "model-transformer"])
def test_the_model_names_the_own_codebook_and_its_dimensions(walkthrough, folder):
    model = walkthrough["root"] / "out" / "own" / folder
    manifest = json.loads((model / "model.json").read_text(encoding="utf-8"))
    assert manifest["codebook"] == "homework"
    assert manifest["kind"] == ("baseline" if folder == "model" else "transformer")
    tasks = {entry["task"]["name"] if "task" in entry else entry["name"]: entry.get("task", entry)
             for entry in manifest["tasks"]}
    assert set(tasks) == set(DIMENSIONS)
    for name, (role, labels) in DIMENSIONS.items():
        assert tasks[name]["role"] == role and list(tasks[name]["labels"]) == labels
        assert tasks[name]["multi_label"] is False
    if folder == "model":
        assert manifest["codebook_definition"]["name"] == "homework"
        card = (model / "MODEL_CARD.md").read_text(encoding="utf-8")
        assert "codebook `homework`" in card and "| coded.jsonl | majority | ana | 8 | 80 |" in card
    else:
        assert manifest["encoder"] == "frozen"
        assert yaml.safe_load((model / "codebook.yaml").read_text(encoding="utf-8"))["name"] == "homework"


@pytest.mark.parametrize("tags", ["tags.jsonl", "tags-transformer.jsonl"])
def test_every_turn_gets_one_label_of_its_own_dimension(walkthrough, tags):
    tagged = read_jsonl(walkthrough["root"] / "out" / "own" / tags)
    assert [t.transcript_id for t in tagged] == ["N01", "N02"]
    utterances = [u for t in tagged for u in t.utterances]
    assert len(utterances) == 20 and {u.role for u in utterances} == {"client", "therapist"}
    for u in utterances:
        own = LABELS_OF_ROLE[u.role]
        labels = u.labels
        assert len(labels) == 1 and labels[0] in own, (u.utterance_id, labels)
        assert set(u.scores) == own
        assert sum(u.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_the_baseline_tags_the_new_sessions_like_the_first_rater(walkthrough):
    out = walkthrough["root"] / "out" / "own"
    ana = {(u.transcript_id, u.utterance_id): c.label for t in read_jsonl(out / "new-coded.jsonl")
           for u in t.utterances for c in u.codes if c.rater == "ana"}
    tags = {(u.transcript_id, u.utterance_id): u.labels[0] for t in read_jsonl(out / "tags.jsonl")
            for u in t.utterances}
    assert sum(tags[key] == label for key, label in ana.items()) >= 18  # of 20


def test_agree_reports_every_own_label(walkthrough):
    report = walkthrough["root"] / "out" / "own" / "report"
    assert {p.name for p in report.iterdir()} >= {"metrics.json", "summary.md", "report.html"}
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["inputs"]["codebook"]["name"] == "homework"
    assert metrics["counts"]["shared_utterances"] == 20 and metrics["counts"]["reference_raters"] == 2
    # Support: the labels of ana and ben's majority (they disagree on two client turns).
    support = {"report.done": 2, "report.skipped": 2, "report.other": 4,
               "response.ask": 5, "response.credit": 3, "response.plan": 2}
    for name, (_, labels) in DIMENSIONS.items():
        level = metrics["dimensions"][name]["levels"]["subtype"]
        rows = {row["label"]: row for row in level["labels"]}
        assert list(rows) == labels
        for label in labels:
            assert rows[label]["support"] == support[label]
            assert 0.0 <= rows[label]["f1"] <= 1.0 and "kappa" in rows[label]
        assert level["raters"]["model_as_rater"]
    assert "client_report" in (report / "summary.md").read_text(encoding="utf-8")


def test_leaving_out_the_codebook_says_how_to_name_it(walkthrough, cli, monkeypatch):
    """Without --codebook, codes import and agree read 3RS: the error says to name the own codebook
    (not which 3RS labels look like 'response.ask'); a codebook not found lists the known ones."""
    monkeypatch.chdir(walkthrough["root"])
    monkeypatch.delenv("RUPTUREKIT_CODEBOOKS", raising=False)
    hint = "no label is in codebook '3rs': for codes of your own codebook, pass --codebook NAME and --codebook-dir"
    imported = cli("codes", "import", "tutorial/own-codebook/codes.csv", "--into", "out/own/corpus.jsonl",
                   "-o", "out/own/x.jsonl")
    assert imported.exit_code == 2 and hint in imported.error_lines[0], imported.stderr
    agreed = cli("agree", "-r", "out/own/new-coded.jsonl", "-p", "out/own/tags.jsonl", "-o", "out/own/x")
    assert agreed.exit_code == 2 and hint in agreed.error_lines[0], agreed.stderr
    assert "did you mean" not in agreed.error_lines[0]
    unnamed = cli("agree", "-r", "out/own/new-coded.jsonl", "-p", "out/own/tags.jsonl", "-o", "out/own/x",
                  "--codebook", "homework")
    assert unnamed.exit_code == 2
    assert "no such codebook; known codebooks: 3rs, annomi, cis. Add your own as NAME.yaml" in unnamed.error_lines[0]
    assert not (walkthrough["root"] / "out" / "own" / "x").exists()
    assert not (walkthrough["root"] / "out" / "own" / "x.jsonl").exists()


def test_a_typo_among_valid_labels_still_names_the_nearest():
    from rupturekit.codebook import load_codebook
    from rupturekit.codes import CodeRow, check_labels
    from rupturekit.errors import InputError

    book = load_codebook("3rs")
    typo = [CodeRow("s", 1, "ana", "withdrawal.denial", where="f:line 2"),
            CodeRow("s", 2, "ana", "withdrawl.denial", where="f:line 3"),
            CodeRow("s", 3, "ana", "withdrawl.deferential", where="f:line 4")]
    with pytest.raises(InputError, match=r"did you mean withdrawal\.denial"):
        check_labels(typo, book, "f")
    with pytest.raises(InputError, match="no label is in codebook '3rs'"):
        check_labels(typo[1:], book, "f")


def test_the_configs_are_what_the_section_says():
    from rupturekit.tagger.config import load_train_config

    baseline = load_train_config(TUTORIAL / "train.yaml")
    transformer = load_train_config(TUTORIAL / "train-transformer.yaml")
    for config in (baseline, transformer):
        assert config.codebook == "homework" and config.codebook_dirs == ["tutorial/own-codebook/codebooks"]
        assert [(s.path, s.raters) for s in config.data] == [("out/own/coded.jsonl", ["ana"])]
    assert (baseline.model, transformer.model) == ("baseline", "transformer")
    assert transformer.transformer.base == "default" and transformer.transformer.resolve_mode(cuda=True) == "frozen"
