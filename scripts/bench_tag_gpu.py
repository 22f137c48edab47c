"""Benchmark on a CUDA GPU: transformer tagging throughput (bf16, length-sorted batches) against a
naive one-utterance-at-a-time `transformers.pipeline` loop on the same GPU and a plain bf16
MiniLM forward pass; and, with --train, the time of a full AnnoMI fine-tune through the CLI
(`rupturekit train configs/annomi.yaml`) and of tagging AnnoMI with the model it writes.

Usage: python scripts/bench_tag_gpu.py [--repeats 5] [--copies 10] [--naive 2000] [--train]
                                       [--data ../shared/data/annomi/AnnoMI-simple.csv] [--json FILE]
       python scripts/bench_tag_gpu.py --render FILE [the options the run had]
Writes its section of BENCHMARKS.md (and, with --json, every number as JSON). Needs a CUDA device;
--render rewrites the section from such a JSON anywhere (GPU time is scarce; the text can change).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_tag import agreement, decisions, fmt_runs, model_flops, quiet, repeated, windows_of
from benchlib import ROOT, machine, parse_annomi, read_quietly, speed_parser, write_section

TARGET_UTTERANCES_PER_S = 40_000
REFERENCE = {"plain bf16 forward": 45_000.0, "naive": 490.0}  # utterances/s quoted in the issue


def arguments() -> argparse.Namespace:
    parser = speed_parser(__doc__.split("\n")[0], repeats=5)
    parser.add_argument("--copies", type=int, default=10, help="tag the corpus repeated this many times")
    parser.add_argument("--train", action="store_true", help="also time `rupturekit train configs/annomi.yaml`")
    parser.add_argument("--train-out", type=Path, default=None, help="where --train writes the model")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON here")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script, not a benchmark")
    parser.add_argument("--render", type=Path, default=None, help="write the section from this JSON of a run")
    return parse_annomi(parser)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cuda_seconds(run, repeats: int, device: str = "cuda") -> tuple[float, list[float]]:
    """Median wall seconds of `run()` with the GPU synchronised before and after each call."""
    times = []
    for _ in range(repeats):
        sync(device)
        began = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def peak_bf16(device: str, repeats: int = 10) -> float:
    import torch

    size = 8192 if device.startswith("cuda") else 512
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    median, _ = cuda_seconds(lambda: a @ b, repeats, device)
    return 2 * size**3 / median


def timed_process(command: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return seconds, done.stderr + done.stdout


def train_and_tag(args, results: dict) -> None:
    """`rupturekit train configs/annomi.yaml` and `rupturekit tag --model` on AnnoMI, whole processes."""
    from rupturekit.records import read_jsonl

    out = args.train_out or Path(tempfile.mkdtemp(prefix="annomi-model-"))
    cli = [sys.executable, "-m", "rupturekit.cli"]
    # the encoder fine-tuned whole, one model (configs/annomi.yaml itself is the frozen hybrid)
    seconds, log = timed_process([*cli, "train", "configs/annomi.yaml", "-o", str(out),
                                  "--set", f"data.0.path={args.data}", "--set", "transformer.encoder_mode=full",
                                  "--set", "transformer.hybrid=none", "--set", "transformer.ensemble=1"])
    metrics = json.loads((out / "val_metrics.json").read_text())
    manifest = json.loads((out / "model.json").read_text())
    tags = out.parent / f"{out.name}-tags.jsonl"
    tag_seconds, _ = timed_process([*cli, "tag", str(args.data), "--model", str(out), "-o", str(tags)])
    therapist = client = one_each = 0
    for transcript in read_jsonl(tags):
        for u in transcript.utterances:
            labels = (u.model_extra or {}).get("labels", [])
            if u.role == "therapist":
                therapist += 1
                one_each += sum(label.startswith("therapist_behaviour.") for label in labels) == 1
            elif u.role == "client":
                client += 1
                one_each += sum(label.startswith("client_talk_type.") for label in labels) == 1
    results["train"] = {"seconds": seconds, "trained_seconds": manifest["trained"]["seconds"],
                        "epochs_run": metrics["epochs_run"], "best_epoch": metrics["best_epoch"],
                        "validation_macro_f1": metrics["score"], "history": metrics["history"],
                        "tag_seconds": tag_seconds, "therapist": therapist, "client": client,
                        "one_label_each": one_each, "encoder": manifest["encoder"], "folder": str(out),
                        "log_tail": log[-1500:]}
    print(json.dumps({"train": {k: v for k, v in results["train"].items() if k != "log_tail"}}), flush=True)


def main() -> int:
    args = arguments()
    if args.render:
        results = json.loads(args.render.read_text())
        for key, value in results.get("args", {}).items():
            setattr(args, key, value)
        write_section("bench_tag_gpu", render(args, results))
        return 0
    quiet()
    import numpy as np
    import torch
    import transformers

    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device; this benchmark is for a GPU machine (scripts/bench_tag.py is the CPU one)",
              file=sys.stderr)
        return 2
    from rupturekit.tagger.api import default_model_dir
    from rupturekit.tagger.transformer import TransformerTagger

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"no GPU ({device}: smoke test)"
    base = read_quietly(args.data)[: args.transcripts]
    transcripts = repeated(base, args.copies * sum(len(t.utterances) for t in base))
    texts = [u.text for t in transcripts for u in t.utterances]
    n = len(texts)
    results: dict = {"gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
                     "utterances": n, "copies": args.copies, "transcripts": len(base), "rows": {}, "machine": machine(),
                     "args": {k: getattr(args, k) for k in ("repeats", "copies", "naive", "train")}}
    peak = peak_bf16(device)
    results["peak_bf16"] = peak
    print(f"{gpu}: bf16 matmul 8192^3 {peak / 1e12:.0f} TFLOP/s; {n:,} utterances", flush=True)

    began = time.perf_counter()
    tagger = TransformerTagger.load(default_model_dir(), device=device)
    results["load_seconds"] = time.perf_counter() - began
    lengths = windows_of(tagger, texts)
    flops = model_flops(tagger.model.encoder, lengths)
    counts = tagger.token_counts(texts)
    results |= {"tokens": counts["tokens"], "encoder_tokens": counts["encoder_tokens"], "windows": len(lengths)}
    outputs = {}

    def row(name: str, run, note: str, items: int = n, flop: float | None = None, keep: bool = False,
            tokens: int | None = None):
        last = {}

        def call():
            last["out"] = run()

        call()  # warm-up: CUDA kernels, autocast caches
        median, runs = cuda_seconds(call, args.repeats, device)
        if keep:
            outputs[name] = last["out"]
        results["rows"][name] = {"median": median, "runs": runs, "items": items, "note": note,
                                 "flops": flops["total"] if flop is None else flop,
                                 "tokens": counts["tokens"] if tokens is None else tokens}
        print(f"{name}: {median:.3f} s, {items / median:,.0f} utterances/s", flush=True)

    budget = tagger._budget
    row("ours, bf16 autocast: predict", lambda: tagger.predict(transcripts),
        f"tokenise, window, encode (length-sorted batches of ≤ {budget:,} padded tokens), dialogue layer, heads; "
        "the default on CUDA", keep=True)
    row("ours, bf16 autocast: inputs only", lambda: tagger._session_inputs(transcripts),
        "the CPU part: tokenise and window every utterance", flop=0.0)
    tagger.config.bf16 = "off"
    row("ours, fp32: predict", lambda: tagger.predict(transcripts), "no autocast (TF32 off: PyTorch's default)",
        keep=True)
    tagger.config.bf16 = "auto"
    encoder = tagger.model.encoder
    fp32_weights = copy.deepcopy(encoder.state_dict())  # a bf16 round trip would round the weights
    encoder.to(torch.bfloat16)
    row("ours, bf16 weights: predict", lambda: tagger.predict(transcripts),
        "as above with the encoder's weights cast to bf16 (autocast then casts nothing)", keep=True)
    reference = decisions(tagger, outputs["ours, fp32: predict"], transcripts)
    results["agreement"] = {
        name: agreement(reference, decisions(tagger, outputs[name], transcripts), n)
        for name in ("ours, bf16 autocast: predict", "ours, bf16 weights: predict")}

    # a plain bf16 MiniLM forward pass: one window per utterance (truncated at 128), batches of 256
    tokenizer = tagger.tokenizer
    plain = encoder  # still in bf16
    order = np.argsort([-len(x) for x in tokenizer(texts, truncation=True, max_length=128)["input_ids"]])
    sorted_texts = [texts[i] for i in order]

    def plain_forward():
        with torch.inference_mode():
            for start in range(0, n, 256):
                batch = tokenizer(sorted_texts[start:start + 256], truncation=True, max_length=128, padding=True,
                                  return_tensors="pt").to(device)
                plain(**batch).last_hidden_state.mean(1).float().cpu()

    row("plain bf16 forward, batches of 256", plain_forward,
        "AutoModel in bf16 over length-sorted texts truncated at 128 tokens (tokeniser included); no windows, "
        "no dialogue layer, no heads")
    encoder.to(torch.float32)
    encoder.load_state_dict(fp32_weights)

    # naive loop: one utterance per pipeline call on the GPU, over the same (merged) encoder weights
    from transformers import AutoModelForSequenceClassification, pipeline

    with tempfile.TemporaryDirectory() as scratch:
        encoder.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        classifier = AutoModelForSequenceClassification.from_pretrained(
            scratch, num_labels=len(tagger.main_tasks[0].labels)).eval()
    pipe = pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=device)
    naive_texts = texts[: args.naive]
    naive_lengths = [len(x) for x in tokenizer(naive_texts, truncation=True)["input_ids"]]

    def naive_loop():
        for text in naive_texts:
            pipe(text, truncation=True)

    row("naive pipeline loop (fp32)", naive_loop, "one utterance per call, truncated at 512 tokens",
        items=len(naive_texts), flop=model_flops(encoder, naive_lengths)["total"],
        tokens=sum(naive_lengths) - 2 * len(naive_lengths))
    if device.startswith("cuda"):
        torch.cuda.empty_cache()

    if args.train:
        try:
            train_and_tag(args, results)
        except Exception as exc:  # noqa: BLE001 - the speed rows above still get written
            results["train_error"] = str(exc)[-2000:]
            print(f"train: failed: {results['train_error']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    section = render(args, results)
    if args.no_write:
        print(section)
    else:
        write_section("bench_tag_gpu", section)
    return 0


def render(args, results: dict) -> str:
    rows = results["rows"]
    naive = rows["naive pipeline loop (fp32)"]
    naive_rate = naive["items"] / naive["median"]
    lines = ["| path | what is timed | utterances | median | runs (s) | utterances/s | tokens/s | MFU (bf16) | "
             "vs naive |", "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        rate = r["items"] / r["median"]
        tokens = r["tokens"]
        mfu = f"{r['flops'] / r['median'] / results['peak_bf16']:.1%}" if r["flops"] else "–"
        lines.append(f"| {name} | {r['note']} | {r['items']:,} | {r['median']:.3f} s | {fmt_runs(r['runs'])} | "
                     f"{rate:,.0f} | {tokens / r['median']:,.0f} | {mfu}"
                     f" | {rate / naive_rate:.1f}x |")
    ours = rows["ours, bf16 autocast: predict"]
    best_name = max((k for k in rows if k.startswith("ours") and "inputs" not in k),
                    key=lambda k: rows[k]["items"] / rows[k]["median"])
    best = rows[best_name]["items"] / rows[best_name]["median"]
    default_rate = ours["items"] / ours["median"]
    verdict = "met" if default_rate >= TARGET_UTTERANCES_PER_S else "not met"
    inputs = rows.get("ours, bf16 autocast: inputs only")
    plain = rows.get("plain bf16 forward, batches of 256")
    where = ""
    if inputs:
        where = (f"Where the time goes: tokenising and windowing on the CPU is {inputs['median'] / ours['median']:.0%} "
                 f"of the default predict ({inputs['median']:.2f} of {ours['median']:.2f} s); "
                 f"the encoder's own GPU work "
                 f"is a few per cent of the time (MFU above), and the rest is per-batch and per-session Python and "
                 f"small kernels (the dialogue layer runs once per session). The plain bf16 forward with its "
                 f"tokeniser in the loop does no better"
                 + (f" ({plain['items'] / plain['median']:,.0f}/s)" if plain else "")
                 + ": on this machine the CPU side, not the GPU, sets the pace. fp32 and bf16 times barely differ for "
                 "the same reason.")
    agree_lines = ["| compared with fp32 | decisions that agree | same label set | ≥ 99% |",
                   "| --- | ---: | ---: | --- |"]
    for name, a in results["agreement"].items():
        agree_lines.append(f"| {name} | {a['agree']:,} / {a['decisions']:,} = {a['share']:.2%} | "
                           f"{a['exact']:.2%} of {a['utterances']:,} | {'met' if a['share'] >= 0.99 else 'not met'} |")
    train = ""
    if "train" in results:
        t = results["train"]
        history = ", ".join(f"{h['val_macro_f1']:.3f}" for h in t["history"])
        count = results.get("transcripts") or len(read_quietly(args.data))
        train = f"""
Full AnnoMI fine-tune, whole process: `rupturekit train configs/annomi.yaml -o DIR` ({t['encoder']} encoder,
all {count} transcripts: training and its 15% validation split) took **{t['seconds']:.0f} s**
({t['trained_seconds']:.0f} s inside `train_transformer`; {t['epochs_run']} epochs, best {t['best_epoch']};
validation macro F1 by epoch {history}). Tagging AnnoMI with it, `rupturekit tag AnnoMI-simple.csv --model DIR
-o tags.jsonl`, whole process: {t['tag_seconds']:.1f} s; {t['one_label_each']:,} of {t['therapist'] + t['client']:,}
therapist and client utterances got exactly one label of their role's dimension.
"""
    elif "train_error" in results:
        train = f"\nThe timed fine-tune failed: `{results['train_error'][-300:]}`\n"
    flag = " --train" if args.train else ""
    return f"""
## Tagging speed on a GPU: bf16, length-sorted batches, against a naive pipeline loop

Command: `python scripts/bench_tag_gpu.py --repeats {args.repeats} --copies {args.copies} --naive {args.naive}{flag}`
Machine: {results['gpu']}; {results.get('machine', machine())};
torch {results['torch']}, transformers {results['transformers']}.
bf16 matmul peak measured in the same run (8192³, random data): {results['peak_bf16'] / 1e12:.0f} TFLOP/s.

The shared AnnoMI simple file repeated {results['copies']} times: {results['utterances']:,} utterances,
{results['tokens']:,} tokens ({results['encoder_tokens']:,} encoder tokens in {results['windows']:,} windows of at most
128),
default model (3RS, LoRA merged into all-MiniLM-L6-v2). Medians of {args.repeats} runs after a warm-up,
GPU synchronised;
the model load ({results['load_seconds']:.1f} s) is not timed. MFU counts useful tokens only (as the CPU benchmark)
against the bf16 peak.

{chr(10).join(lines)}

Target: at least {TARGET_UTTERANCES_PER_S:,} utterances/s with bf16 and length-sorted batches of 256 or more:
**{verdict}** with the default path ({default_rate:,.0f}/s; fastest of ours: {best_name}, {best:,.0f}/s). The issue's
reference figures: plain bf16 forward ≈ {REFERENCE['plain bf16 forward']:,.0f}/s, naive loop ≈
{REFERENCE['naive']:,.0f}/s.
{where}
`tag()` also computes cue evidence with spaCy on the CPU for 3RS labels; that part is not in these rows
(see the CPU benchmark: about 3,000 utterances/s on one core).

Agreement of the bf16 tags with fp32 on the same GPU, every (utterance, label) decision of the main tasks:

{chr(10).join(agree_lines)}
{train}"""


if __name__ == "__main__":
    sys.exit(main())
