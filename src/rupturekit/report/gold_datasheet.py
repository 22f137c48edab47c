"""The computed tables of a double-coded gold corpus's datasheet (``data/gold/annomi-3rs``).

`datasheet_tables(transcripts)` renders, from the codes alone:

- code rows per label and rater;
- marker prevalence per session, separately for AnnoMI's high- and low-quality sessions;
- inter-pass agreement (``pass-a`` against ``pass-b``) per family and per label, at the utterance
  and the 5-minute segment level: Cohen's kappa, Gwet's AC1 and PABAK with 95% CIs from a bootstrap
  over transcripts (`rupturekit.agree.pairwise`);
- the project team's earlier codes against the adjudicated ones, where both exist.

`tests/test_gold.py` recomputes these tables and compares them with the datasheet, so the
datasheet cannot drift from the data. Deterministic: the bootstrap is seeded.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rupturekit.agree.pairwise import ANY, PairAgreement, pairwise_agreement, presence
from rupturekit.codebook import Codebook, load_codebook
from rupturekit.records import Transcript

__all__ = ["DATASHEET_RATERS", "datasheet_tables", "session_prevalence"]

DATASHEET_RATERS = ("team", "pass-a", "pass-b", "adjudicated")
BOOTSTRAP = 1000
SEED = 0


def _f(value: float, digits: int = 2) -> str:
    # + 0.0 turns -0.0 into 0.0, so a kappa of -0.000 prints as 0.00
    return "–" if value is None or not math.isfinite(value) else f"{round(value, digits) + 0.0:.{digits}f}"


def _ci(value: float, interval: tuple[float, float]) -> str:
    if not math.isfinite(value):
        return "–"
    low, high = interval
    return f"{_f(value)} [{_f(low)}, {_f(high)}]" if math.isfinite(low) else _f(value)


def label_count_table(transcripts: Sequence[Transcript], codebook: Codebook) -> list[str]:
    counts = {rater: Counter() for rater in DATASHEET_RATERS}
    coded = {rater: set() for rater in DATASHEET_RATERS}
    for t in transcripts:
        for u in t.utterances:
            for code in u.codes:
                if code.rater in counts:
                    counts[code.rater][code.label] += 1
                    coded[code.rater].add(t.transcript_id)
    lines = ["| label | " + " | ".join(f"`{r}`" for r in DATASHEET_RATERS) + " |",
             "| --- |" + " ---: |" * len(DATASHEET_RATERS)]
    lines.append("| *transcripts coded* | " + " | ".join(str(len(coded[r])) for r in DATASHEET_RATERS) + " |")
    for label in [*codebook.labels, codebook.none_label]:
        dimension = codebook.dimension_of(label)
        if dimension is not None and not dimension.multi_label:
            continue  # the 1-5 ratings are not coded per utterance here
        lines.append(f"| `{label}` | " + " | ".join(str(counts[r][label]) for r in DATASHEET_RATERS) + " |")
    return lines


def session_prevalence(transcript: Transcript, rater: str, role: str, category: str) -> tuple[int, int]:
    """(utterances of `role` the rater coded with `category` (a family, or ANY), utterances of `role` coded)."""
    _, marked = presence([transcript], rater, [category], role)
    return int(marked.sum()), len(marked)


def prevalence_table(transcripts: Sequence[Transcript], rater: str = "adjudicated") -> list[str]:
    rows = [("client", ANY, "any client marker"), ("client", "withdrawal", "withdrawal"),
            ("client", "confrontation", "confrontation"), ("therapist", ANY, "any resolution strategy")]
    lines = ["| sessions | what | sessions | turns of the role | pooled % | mean % per session | "
             "median % [IQR] | sessions with none |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for quality in ("high", "low"):
        chosen = [t for t in transcripts if t.utterances and t.utterances[0].meta.get("mi_quality") == quality]
        for role, category, name in rows:
            pairs = [session_prevalence(t, rater, role, category) for t in chosen]
            pairs = [(m, n) for m, n in pairs if n]
            if not pairs:
                continue
            shares = np.array([100.0 * m / n for m, n in pairs])
            pooled = 100.0 * sum(m for m, _ in pairs) / sum(n for _, n in pairs)
            q1, median, q3 = np.percentile(shares, [25, 50, 75])
            lines.append(f"| {quality} quality | {name} | {len(pairs)} | {sum(n for _, n in pairs):,} | "
                         f"{pooled:.1f} | {shares.mean():.1f} | {median:.1f} [{q1:.1f}, {q3:.1f}] | "
                         f"{int((shares == 0).sum())} |")
    return lines


def agreement_rows(results: Sequence[PairAgreement], names: dict[str, str] | None = None) -> list[str]:
    lines = ["| category | unit | units | A+ | B+ | both | κ [95% CI] | AC1 [95% CI] | PABAK [95% CI] |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for r in results:
        name = (names or {}).get(r.category, f"`{r.category}`")
        lines.append(f"| {name} | {r.unit} | {r.n:,} | {r.a_positive} | {r.b_positive} | {r.both} | "
                     f"{_ci(r.kappa, r.kappa_ci)} | {_ci(r.ac1, r.ac1_ci)} | {_ci(r.pabak, r.pabak_ci)} |")
    return lines


def datasheet_tables(transcripts: Sequence[Transcript], codebook: Codebook | None = None,
                     n_bootstrap: int = BOOTSTRAP, seed: int = SEED) -> str:
    """The datasheet's computed tables as Markdown (see the module docstring)."""
    codebook = codebook or load_codebook("3rs")
    both = [t for t in transcripts if any(c.rater == "pass-b" for u in t.utterances for c in u.codes)]
    client = codebook.dimension("client_markers")
    therapist = codebook.dimension("resolution")
    family_names = {ANY: "any client marker", "withdrawal": "withdrawal", "confrontation": "confrontation"}
    lines = ["### Code rows per label and rater", "",
             "One row per (utterance, label); `none` marks a coded utterance with no label.", "",
             *label_count_table(transcripts, codebook), "",
             "### Marker prevalence per session (`adjudicated`)", "",
             "AnnoMI's own quality label (its experts', not ours) splits the sessions. A session's share is its "
             "marked turns over its turns of that role.", "",
             *prevalence_table(transcripts), "",
             "### Inter-pass agreement: `pass-a` (A) against `pass-b` (B)", "",
             f"{len(both)} transcripts. 95% CIs: percentile bootstrap over transcripts ({n_bootstrap} resamples, "
             f"seed {seed}). Segment level: a 5-minute segment carries a category when any of its turns of the "
             "role does.", "", "#### Families", ""]
    family_results = []
    for unit in ("utterance", "segment"):
        family_results += pairwise_agreement(both, "pass-a", "pass-b", [ANY, "withdrawal", "confrontation"],
                                             "client", unit, n_bootstrap, seed)
        resolution = pairwise_agreement(both, "pass-a", "pass-b", [ANY], "therapist", unit, n_bootstrap, seed)
        family_results += [PairAgreement(**{**r.__dict__, "category": "resolution"}) for r in resolution]
    lines += agreement_rows(family_results, {**family_names, "resolution": "resolution (any strategy)"})
    for unit in ("utterance", "segment"):
        lines += ["", f"#### Labels, {unit} level", ""]
        results = (pairwise_agreement(both, "pass-a", "pass-b", client.label_names, "client", unit, n_bootstrap, seed)
                   + pairwise_agreement(both, "pass-a", "pass-b", therapist.label_names, "therapist", unit,
                                        n_bootstrap, seed))
        lines += agreement_rows(results)
    team = [t for t in both if any(c.rater == "team" for u in t.utterances for c in u.codes)]
    if team:
        lines += ["", f"### The team's earlier codes (A) against `adjudicated` (B), {len(team)} transcripts", "",
                  "Not independent of the passes' reliability (the adjudicated codes come from the two passes); "
                  "shown to place the earlier single-rater codes.", ""]
        results = pairwise_agreement(team, "team", "adjudicated", [ANY, "withdrawal", "confrontation"], "client",
                                     "utterance", n_bootstrap, seed)
        lines += agreement_rows(results, family_names)
    return "\n".join(lines) + "\n"
