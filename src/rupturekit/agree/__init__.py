"""Agreement statistics: machine tags against human observer codes, and humans against each other.

The coefficients (`rupturekit.measures.agreement`) and transcript-level confidence intervals
(`rupturekit.measures.bootstrap`) live one stage lower, where the tagger's evaluation shares them;
`rupturekit.agree.raters` treats the model as one more rater.

`rupturekit agree` is built from: `align` (reading both sides, picking raters, aligning the
utterances), `tables` (a dimension at one level and unit as subjects x raters), `metrics`
(classification statistics with bootstrap CIs), `humans` (human-human agreement, the model as a
rater), `counts` (counts and ratings per segment or session), `disagreements`, `results` (the
typed results and their JSON), `run` (`compute_agreement`, `write_agreement`, `run_agreement`),
and the views `text` (summary.md, the CLI's lines) and `page` (report.html).
"""

from __future__ import annotations

from rupturekit.agree.raters import (
    MajorityComparison,
    ModelAsRater,
    ModelPosition,
    majority_vote,
    model_as_rater,
)

__all__ = ["MajorityComparison", "ModelAsRater", "ModelPosition", "majority_vote", "model_as_rater"]
