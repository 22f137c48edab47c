"""`rupturekit tag --engine ray`: the Ray engine on a local Ray instance started here (2 CPUs),
with a small random transformer: its tags equal the single-process engine's over the same units,
a killed worker is retried and every transcript is written exactly once, and the CLI's options."""

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray engine is optional: pip install 'rupturekit[ray]'")
pytest.importorskip("ray.data", reason="the Ray engine needs Ray Data: pip install 'rupturekit[ray]'")
pytest.importorskip("peft", reason="peft is a dependency of the transformer tagger")

from conftest import tiny_bert  # noqa: E402

from rupturekit.ingest.units import UNIT_BYTES, plan_units  # noqa: E402
from rupturekit.reading import IngestConfig, IngestResult, expand_inputs, read_unit  # noqa: E402
from rupturekit.records import Code, Transcript, Utterance, dumps_jsonl, write_jsonl  # noqa: E402
from rupturekit.tagger import ray_engine  # noqa: E402
from rupturekit.tagger.ray_engine import RayOptions, read_output, tag_with_ray  # noqa: E402

CLIENT = ["Dunno.", "Fine.", "Whatever.", "No, that's not it at all.", "This isn't helping at all.",
          "I went to work and then I cooked dinner for my kids.", "My sister called me about the weekend."]
SMALL_UNITS = 3000  # bytes: the corpus below is cut into 6 units, so that two workers share them
THERAPIST = ["What is it like talking about this with me right now?", "Tell me more about your week.",
             "It sounds like I missed something important there.", "How did you sleep?"]
def corpus(n: int, prefix: str) -> list[Transcript]:
    transcripts = []
    for t in range(n):
        tid = f"{prefix}{t}"
        utterances = [Utterance(transcript_id=tid, utterance_id=i, speaker="T" if i % 2 == 0 else "C",
                                role="therapist" if i % 2 == 0 else "client",
                                text=(THERAPIST if i % 2 == 0 else CLIENT)[(3 * t + i) % (4 if i % 2 == 0 else 7)],
                                codes=[Code(rater="team", label="none")]) for i in range(8 + t % 5)]
        transcripts.append(Transcript(transcript_id=tid, utterances=utterances))
    return transcripts


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """A corpus (a canonical JSONL file, cut into units by SMALL_UNITS, and two plain-text sessions), a
    small transformer trained on it, and a local Ray instance with 2 CPUs."""
    from rupturekit.tagger.config import TrainConfig
    from rupturekit.tagger.transformer_train import train_transformer

    root = tmp_path_factory.mktemp("ray")
    cache = os.environ.get("RUPTUREKIT_CACHE")
    os.environ["RUPTUREKIT_CACHE"] = str(root / "cache")  # before ray.init: the workers inherit it
    write_jsonl(corpus(14, "s"), root / "corpus.jsonl")
    (root / "a.txt").write_text("T: How was the week?\nC: Dunno.\nT: Tell me more.\nC: This isn't helping.\n",
                                encoding="utf-8")
    (root / "b.txt").write_text("T: What happened next?\nC: My sister called me.\n", encoding="utf-8")
    texts = [u.text for t in corpus(12, "s") for u in t.utterances] + ["therapist client other unknown"]
    base = tiny_bert(root / "base", texts)
    train = corpus(8, "train")
    write_jsonl(train, root / "train.jsonl")
    config = TrainConfig.model_validate({
        "model": "transformer", "codebook": "3rs", "data": [{"path": str(root / "train.jsonl")}], "seed": 7,
        "transformer": {"base": str(base), "max_length": 16, "window_stride": 12, "dialogue_heads": 2, "epochs": 1,
                        "sessions_per_batch": 4, "validation_fraction": 0.25, "device": "cpu",
                        "encoder_mode": "frozen"}})
    train_transformer(config, root / "model", progress=lambda event: None)
    inputs = [str(root / "corpus.jsonl"), str(root / "a.txt"), str(root / "b.txt")]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield {"root": root, "model": str(root / "model"), "inputs": inputs}
    ray.shutdown()
    if cache is None:
        os.environ.pop("RUPTUREKIT_CACHE", None)
    else:
        os.environ["RUPTUREKIT_CACHE"] = cache


def single_process(workspace: dict, unit_bytes: int, threads: int, runtime: str) -> str:
    """The single-process engine's tags over the same units, as canonical JSONL, with as many
    intra-op threads as each Ray worker had: a matrix product split over another number of threads
    sums in another order, which can move a score in its 6th decimal."""
    import torch

    from rupturekit.tagger.api import load_tagger, tag_unit

    config = IngestConfig()
    plan = plan_units(expand_inputs(workspace["inputs"], IngestResult()), unit_bytes)
    before = torch.get_num_threads()
    try:
        # the local command's loader, not the actors' (whose setup the comparison checks)
        torch.set_num_threads(threads)
        tagger = load_tagger(workspace["model"], runtime=runtime, threads=threads)
        return "".join(dumps_jsonl(tag_unit(tagger, read_unit(unit, config).transcripts)) for unit in plan)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cli_run(workspace):
    """`rupturekit tag INPUTS --engine ray -o OUT` on the Ray instance of `workspace` (one unit, one worker;
    the test with a killed worker has 6 units and 2 workers)."""
    from typer.testing import CliRunner

    from rupturekit.cli import app

    out = workspace["root"] / "tags"
    result = CliRunner().invoke(app, ["tag", *workspace["inputs"], "--model", workspace["model"], "--engine", "ray",
                                      "--num-workers", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.stderr


def test_ray_tags_equal_the_single_process_tags(workspace, cli_run):
    out, _ = cli_run
    assert dumps_jsonl(read_output(out)) == single_process(workspace, UNIT_BYTES, threads=1, runtime="onnx")


def test_cli_writes_shards_an_index_and_a_manifest(cli_run):
    out, stderr = cli_run
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == "ray" and manifest["format"] == "jsonl" and manifest["workers"] == 1
    assert manifest["runtime"] == "onnx"  # --runtime auto on CPU workers
    assert manifest["units"] == 1 and manifest["transcripts"] == 16 and manifest["cpus_per_worker"] == 1
    assert manifest["utterances"] == 144 == sum(s["utterances"] for s in manifest["shards"])
    assert manifest["versions"]["ray"] == ray.__version__ and manifest["seconds"]["total"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["index.jsonl", "manifest.json", "shards"]
    assert sorted(f"shards/{p.name}" for p in (out / "shards").iterdir()) == [s["file"] for s in manifest["shards"]]
    index = [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["transcript_id"] for row in index] == [*(f"s{i}" for i in range(14)), "a", "b"]
    assert "on Ray: 1 unit, 1 worker, 1 shard;" in stderr and f"wrote {out}" in stderr


def crash_once(marker: Path):
    """A TagUnits whose first call kills its own worker process, once in the whole run (the marker
    file is claimed atomically). Defined in a function, so Ray ships it by value."""
    class CrashOnce(ray_engine.TagUnits):
        def __call__(self, batch):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return super().__call__(batch)
            os._exit(1)

    return CrashOnce


def test_a_killed_worker_is_retried_and_each_transcript_is_written_once(workspace, tmp_path, monkeypatch):
    marker = tmp_path / "crashed"
    monkeypatch.setattr(ray_engine, "TagUnits", crash_once(marker))
    out = tmp_path / "tags"
    result = tag_with_ray(workspace["inputs"], workspace["model"], out,
                          RayOptions(num_workers=2, unit_bytes=SMALL_UNITS, shard_format="parquet", runtime="torch"),
                          IngestConfig())
    assert marker.exists(), "no worker was killed: the test tested nothing"
    assert result.written and result.duplicates_dropped == 0 and result.units >= 4 and result.workers == 2
    index = [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [row["transcript_id"] for row in index]
    assert len(ids) == len(set(ids)) == 16
    assert dumps_jsonl(read_output(out)) == single_process(workspace, SMALL_UNITS, threads=1, runtime="torch")


def test_duplicate_rows_are_found_and_dropped(tmp_path):
    """The repair path of `collect`: a unit delivered twice (two shards hold transcript x) keeps one copy."""
    shards = tmp_path / "shards"
    shards.mkdir()
    line = json.dumps({"transcript_id": "x", "utterance_id": 0, "labels": ["a"]})
    other = json.dumps({"transcript_id": "y", "utterance_id": 0, "labels": []})
    (shards / "part-00000.jsonl").write_text(line + "\n", encoding="utf-8")
    (shards / "part-00001.jsonl").write_text(line + "\n" + other + "\n", encoding="utf-8")
    (shards / ".part-00002.jsonl.99.tmp").write_text("half a line", encoding="utf-8")
    report = {"unit": 0, "transcripts": [["x", 1]], "files": ["f"], "speakers": [], "failures": [], "warnings": []}
    returns = [{"file": "part-00000.jsonl", "reports": [report], "transcripts": {"x": [0, 1]}, "labels": 1},
               {"file": "part-00001.jsonl", "reports": [report, {**report, "unit": 1, "transcripts": [["y", 1]]}],
                "transcripts": {"x": [0, 1], "y": [1, 1]}, "labels": 1}]
    collected = ray_engine.collect(returns, 2, shards, "jsonl")
    assert collected.dropped == 1
    assert sorted(p.name for p in shards.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl"]
    assert (shards / "part-00001.jsonl").read_text(encoding="utf-8") == other + "\n"
    clash = [{"file": "part-00000.jsonl", "reports": [report, {**report, "unit": 1, "files": ["g"]}],
              "transcripts": {"x": [0, 2]}, "labels": 0}]
    with pytest.raises(ray_engine.InputError, match="transcript id 'x' is also in f"):
        ray_engine.collect(clash, 2, shards, "jsonl")


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark", "-o", "{out}"], "--engine: 'spark' is not one of local, ray"),
    (["--engine", "ray"], "--engine ray writes a folder"),
    (["--engine", "ray", "-o", "{out}", "--format", "csv"], "--engine ray writes shards as jsonl or parquet"),
    (["--num-workers", "2", "-o", "{out}"], "--num-workers needs --engine ray"),
    (["--engine", "ray", "-o", "{out}", "--runtime", "onnx", "--gpus-per-worker", "1"],
     "the ONNX runtime runs on the CPU only"),
    (["--engine", "ray", "-o", "{out}", "--num-workers", "0"], "--num-workers: 0 workers"),
    (["--engine", "ray", "-o", "{out}", "--resume"], "--resume continues a local run's file"),
])
def test_cli_bad_options_are_one_line_and_exit_2(workspace, cli, tmp_path, args, message):
    out = tmp_path / "tags"
    result = cli("tag", workspace["inputs"][1], "--model", workspace["model"],
                 *[a.format(out=out) for a in args])
    assert result.exit_code == 2, result.stderr
    assert len(result.error_lines) == 1 and message in result.error_lines[0], result.stderr
    assert not out.exists()


def test_cli_without_ray_says_how_to_install_it(workspace, cli, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_engine, "ray", None)
    result = cli("tag", workspace["inputs"][1], "--engine", "ray", "-o", tmp_path / "tags")
    assert result.exit_code == 2
    assert result.error_lines == ["error: --engine ray: Ray is not installed; pip install 'rupturekit[ray]'"]


def test_workers_cpus_and_gpus_follow_the_cluster(monkeypatch):
    """One worker per CPU with one CPU each; GPU workers share the GPUs and the CPUs; never more
    workers than units; too few GPUs is one line."""
    cluster = {"CPU": 16.0, "GPU": 2.0}
    monkeypatch.setattr(ray_engine.ray, "cluster_resources", lambda: cluster)
    assert ray_engine.plan_workers(RayOptions(), units=100) == (16, 1.0, 1)
    assert ray_engine.plan_workers(RayOptions(num_workers=4), units=100) == (4, 1.0, 1)
    assert ray_engine.plan_workers(RayOptions(), units=3) == (3, 1.0, 1)
    assert ray_engine.plan_workers(RayOptions(gpus_per_worker=0.5), units=100) == (4, 4.0, 4)
    with pytest.raises(ray_engine.InputError, match="3 workers x 1 GPUs need 3 GPUs, the Ray cluster has 2"):
        ray_engine.plan_workers(RayOptions(num_workers=3, gpus_per_worker=1), units=100)
    cluster["GPU"] = 0.0
    with pytest.raises(ray_engine.InputError, match="the Ray cluster has 0 GPUs"):
        ray_engine.plan_workers(RayOptions(gpus_per_worker=1), units=100)


def test_an_empty_transcript_is_left_out_as_the_local_engine_does(workspace, tmp_path):
    empty = tmp_path / "empty.vtt"
    empty.write_text("WEBVTT\n\n", encoding="utf-8")
    inputs = [*workspace["inputs"][1:], str(empty)]
    out = tmp_path / "tags"
    result = tag_with_ray(inputs, workspace["model"], out, RayOptions(num_workers=1, runtime="torch"), IngestConfig())
    assert sorted(t.transcript_id for t in read_output(out)) == ["a", "b"]
    assert result.utterances == 6
