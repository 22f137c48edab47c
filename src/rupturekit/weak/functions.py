"""Labeling functions (LFs): small, named rules over a `FeatureTable` that vote on one 3RS label.

A labeling function votes per row (utterance): ``1`` for its label, ``0`` abstain, ``-1``
against its label. It only ever votes on rows of its `role` (client markers on client rows,
resolution strategies on therapist rows); every other row gets ``0``.

LFs work at the **label** level only (``withdrawal.denial``, not ``withdrawal``): the label
model is fitted per label, and family-level votes would only duplicate the label votes they
are made of. A family view is a union of label probabilities downstream, if anyone needs it.

`LABELING_FUNCTIONS` holds two kinds:

- **generated** from the feature registry: every 0/1 cue flag (`FeatureSpec` whose
  description starts "1 if") that declares 3RS markers gives one LF per marker, voting 1 where
  the flag fires. A few flags are not votes on their own and are left out (`NOT_VOTES`, each
  with its reason), and counter-cues vote -1 (`COUNTER_CUES`). A flag with several markers
  would give one LF per marker, named ``feature/subtype``; the two there are today
  (``metacommunication``, ``pattern_language``) are shared cues and are left out.
- **compound** rules written by hand (`COMPOUND`): conjunctions of cues with context, and a
  few rules that vote against a label ("a long engaged answer is not a minimal response").

A compound rule never refines a voting LF of the same label (``denial`` AND an open question
would vote again wherever ``denial`` votes): the label model assumes LFs independent given the
label, and a subset LF double-counts its parent. Where the brief for a rule was a refinement,
the parent flag is left out instead (``short_after_open_question`` ->
``minimal_after_open_no_question``); rules that vote *against* a label may sit inside a voting
LF (``rationale_without_strain``), which is what a veto is.

The rules were written from the 3RS definitions in ``configs/codebooks/3rs.yaml`` while looking
at the ``3rs-constructed`` gold corpus (as were the feature lexicons; LFs too imprecise there
were turned into ingredients), so scores on that corpus are optimistic. ``annomi-3rs`` was not
used to write them, beyond its datasheet's coding conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rupturekit.features import FEATURES, FeatureTable
from rupturekit.features.definitions import FLAGS

Rule = Callable[[FeatureTable], np.ndarray]
ROLES: tuple[str, ...] = ("client", "therapist")
FOR, ABSTAIN, AGAINST = 1, 0, -1


@dataclass(frozen=True)
class LabelingFunction:
    """One named rule voting on one 3RS label for the rows of one role.

    `rule(table)` returns a bool array (True = vote for the label) or an int array of
    votes in {-1, 0, 1}, for every row whatever its role; `apply` masks it to `role`.
    """

    name: str
    label: str  # a 3RS label name, family.subtype
    role: str  # "client" or "therapist"
    description: str
    rule: Rule = field(repr=False, compare=False)
    kind: str = "compound"  # "generated" (from a feature flag) or "compound" (hand-written)
    features: tuple[str, ...] = ()  # the features it reads
    polarity: int = FOR  # FOR: votes only 1 (or abstains); AGAINST: votes only -1

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"LF {self.name}: role must be one of {ROLES}, not {self.role!r}")
        if "." not in self.label:
            raise ValueError(f"LF {self.name}: label {self.label!r} must be a family.subtype label name")

    def apply(self, table: FeatureTable) -> np.ndarray:
        """Votes per row, int8 in {-1, 0, 1}; 0 on rows of another role."""
        raw = np.asarray(self.rule(table))
        if raw.shape != (len(table),):
            raise ValueError(f"LF {self.name} returned shape {raw.shape}, expected ({len(table)},)")
        votes = raw.astype(np.int8) if raw.dtype == bool else np.sign(raw).astype(np.int8)
        return np.where(role_mask(table, self.role), votes, np.int8(0)).astype(np.int8)


def role_mask(table: FeatureTable, role: str) -> np.ndarray:
    return np.asarray(table.roles, dtype=object) == role


def apply_lfs(table: FeatureTable, lfs: list[LabelingFunction] | None = None) -> np.ndarray:
    """The vote matrix: rows of `table` x `lfs` (default `LABELING_FUNCTIONS`), int8 in {-1, 0, 1}."""
    lfs = LABELING_FUNCTIONS if lfs is None else lfs
    votes = np.zeros((len(table), len(lfs)), dtype=np.int8)
    for j, lf in enumerate(lfs):
        votes[:, j] = lf.apply(table)
    return votes


# ------------------------------------------------------------------------------------------
# Helpers the rules read the table with
# ------------------------------------------------------------------------------------------

def col(table: FeatureTable, name: str) -> np.ndarray:
    return table.column(name).astype(np.float64)


def flag(table: FeatureTable, name: str) -> np.ndarray:
    return table.column(name) > 0


def prev_other(table: FeatureTable, values: np.ndarray, missing: float = 0.0) -> np.ndarray:
    """`values` on the previous row of the same transcript spoken by another role (client <->
    therapist), `missing` where there is none. The table has roles, not speakers, so two
    clients in a row count as one speaker here."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(table), missing, dtype=np.float64)
    last: dict[str, int] = {}  # role -> last row of that role in the current transcript
    current = None
    for i, ((transcript_id, _), role) in enumerate(zip(table.keys, table.roles, strict=True)):
        if transcript_id != current:
            current, last = transcript_id, {}
        others = [row for r, row in last.items() if r != role]
        if others:
            out[i] = values[max(others)]
        last[role] = i
    return out


# ------------------------------------------------------------------------------------------
# Generated from the feature registry
# ------------------------------------------------------------------------------------------

# Flags with markers that are not a vote on their own, and why.
NOT_VOTES: dict[str, str] = {
    "prev_open_question": "context only: says what the therapist asked, nothing about the answer",
    "backchannel_only": "the ordinary listener turn; minimal only where more is invited (short_after_open_question)",
    "short_vs_own_median": "short turns are mostly answers to closed questions and backchannels",
    "long_vs_own_median": "a long answer is mostly engagement; used in long_story",
    "topic_shift": "no shared content words is common in real talk; too broad on its own",
    "short_after_open_question": "refined by minimal_after_open_no_question (which it would duplicate)",
    "opens_but_after_intervention": "'yeah, but' is mostly ordinary sustain talk; refined by rejects_but_you_negative",
    "metacommunication": "here-and-now talk is shared by three strategies; used in the compound rules",
    "pattern_language": "pattern talk is shared by links inside and outside; links_inside/links_outside decide",
    "painful_content": "an ingredient of affect_split: painful content with fitting affect is no marker",
    "mentions_task": "naming a task is no complaint; used in task_mention_negative",
    "mentions_frame": "naming the frame is no complaint; used in frame_mention_negative",
    "no_first_person": "impersonal wording alone is common; used in generic_people_no_self",
}
# Flags that are evidence against their marker.
COUNTER_CUES: dict[str, str] = {
    "short_after_closed_question": "a short answer to a closed question is expected, not withdrawal",
}


def _flag_rule(name: str, vote: int) -> Rule:
    def rule(table: FeatureTable) -> np.ndarray:
        return np.where(table.column(name) > 0, vote, 0)

    return rule


def _generated() -> list[LabelingFunction]:
    lfs = []
    for spec in FEATURES:
        if spec.name not in FLAGS or not spec.markers or spec.name in NOT_VOTES:
            continue
        if len(spec.roles) != 1:  # every cue flag is declared for one role; a new one must say which
            raise ValueError(f"feature {spec.name} is meant for roles {spec.roles}; an LF needs one role")
        vote = AGAINST if spec.name in COUNTER_CUES else FOR
        for marker in spec.markers:
            name = spec.name if len(spec.markers) == 1 else f"{spec.name}/{marker.split('.', 1)[1]}"
            what = COUNTER_CUES.get(spec.name) or spec.description.removeprefix("1 if ")
            description = f"{'against' if vote < 0 else 'for'} {marker.split('.', 1)[1]}: {what}"
            lfs.append(LabelingFunction(name, marker, spec.roles[0], description, _flag_rule(spec.name, vote),
                                        kind="generated", features=(spec.name,), polarity=vote))
    return lfs


# ------------------------------------------------------------------------------------------
# Hand-written compound rules
# ------------------------------------------------------------------------------------------

def _minimal_after_open_no_question(t: FeatureTable) -> np.ndarray:
    return flag(t, "short_after_open_question") & ~flag(t, "question")


def _long_engaged_answer(t: FeatureTable) -> np.ndarray:
    # A turn of 15+ words is not minimal, whoever asked what.
    return np.where(col(t, "word_count") >= 15, AGAINST, 0)


def _rejects_but_you_negative(t: FeatureTable) -> np.ndarray:
    return flag(t, "opens_but_after_intervention") & flag(t, "you_negative_sentiment")


def _generic_people_no_self(t: FeatureTable) -> np.ndarray:
    return (col(t, "generic_person_rate") >= 0.05) & flag(t, "no_first_person")


def _abstract_nouns_impersonal(t: FeatureTable) -> np.ndarray:
    return (col(t, "abstract_noun_rate") >= 0.05) & (col(t, "pron_i_rate") == 0) & (col(t, "word_count") >= 10)


def _long_story(t: FeatureTable) -> np.ndarray:
    narrative = (col(t, "narrative_markers") > 0) | (col(t, "past_tense_rate") >= 0.05)
    return flag(t, "long_vs_own_median") & narrative


def _short_turn_no_story(t: FeatureTable) -> np.ndarray:
    return np.where(col(t, "word_count") < 12, AGAINST, 0)


def _agrees_under_pressure(t: FeatureTable) -> np.ndarray:
    # "Brief okay/yeah after a lecture is deferential only when it follows pressure" (annomi-3rs datasheet).
    pushed = prev_other(t, (col(t, "pressure") > 0) | (col(t, "imperative_demand") > 0)) > 0
    return flag(t, "backchannel_only") & pushed


def _task_mention_negative(t: FeatureTable) -> np.ndarray:
    return flag(t, "mentions_task") & (col(t, "vader_compound") <= -0.2)


def _frame_mention_negative(t: FeatureTable) -> np.ndarray:
    return flag(t, "mentions_frame") & (col(t, "vader_compound") <= -0.2)


def _invites_after_rupture(t: FeatureTable) -> np.ndarray:
    return flag(t, "metacommunication") & flag(t, "question") & (col(t, "prev_rupture_cues") > 0)


def _rationale_without_strain(t: FeatureTable) -> np.ndarray:
    # Routine rationale or agenda setting with no strain before it is not a resolution move.
    return np.where(flag(t, "rationale") & (col(t, "prev_rupture_cues") == 0), AGAINST, 0)


# name, label, role, description, rule, features read
COMPOUND: list[tuple[str, str, str, str, Rule, tuple[str, ...]]] = [
    ("minimal_after_open_no_question", "withdrawal.minimal_response", "client",
     "for: an open question gets a short or backchannel answer that asks nothing back",
     _minimal_after_open_no_question, ("short_after_open_question", "question")),
    ("long_engaged_answer", "withdrawal.minimal_response", "client",
     "against: a turn of 15 or more words is not a minimal response",
     _long_engaged_answer, ("word_count",)),
    ("generic_people_no_self", "withdrawal.abstract_communication", "client",
     "for: generic persons (>= 5% of words) in a turn of 8+ words without I/me/my",
     _generic_people_no_self, ("generic_person_rate", "no_first_person")),
    ("abstract_nouns_impersonal", "withdrawal.abstract_communication", "client",
     "for: abstract nouns (>= 5% of words) in a turn of 10+ words without I/me/my",
     _abstract_nouns_impersonal, ("abstract_noun_rate", "pron_i_rate", "word_count")),
    ("long_story", "withdrawal.avoidant_storytelling", "client",
     "for: a long turn (25+ words, twice the own median) with narrative markers or dense past tense",
     _long_story, ("long_vs_own_median", "narrative_markers", "past_tense_rate")),
    ("short_turn_no_story", "withdrawal.avoidant_storytelling", "client",
     "against: a turn of fewer than 12 words tells no story",
     _short_turn_no_story, ("word_count",)),
    ("agrees_under_pressure", "withdrawal.deferential_appeasing", "client",
     "for: a backchannel-only turn right after the therapist pressured or gave orders",
     _agrees_under_pressure, ("backchannel_only", "pressure", "imperative_demand")),
    ("rejects_but_you_negative", "confrontation.rejects_intervention", "client",
     "for: opens with 'but' after an intervention, and is negative about 'you'",
     _rejects_but_you_negative, ("opens_but_after_intervention", "you_negative_sentiment")),
    ("task_mention_negative", "confrontation.complaint_activities", "client",
     "for: names a therapy task in a negative turn (VADER <= -0.2)",
     _task_mention_negative, ("mentions_task", "vader_compound")),
    ("frame_mention_negative", "confrontation.complaint_parameters", "client",
     "for: names the frame (time, fees, scheduling) in a negative turn (VADER <= -0.2)",
     _frame_mention_negative, ("mentions_frame", "vader_compound")),
    ("invites_after_rupture", "resolution.invites_exploration", "therapist",
     "for: a here-and-now question right after a client turn with rupture cues",
     _invites_after_rupture, ("metacommunication", "question", "prev_rupture_cues")),
    ("rationale_without_strain", "resolution.illustrates_task_rationale", "therapist",
     "against: a rationale with no rupture cue before it is routine, not a resolution move",
     _rationale_without_strain, ("rationale", "prev_rupture_cues")),
]


def _compound() -> list[LabelingFunction]:
    return [LabelingFunction(name, label, role, description, rule, kind="compound", features=features,
                             polarity=AGAINST if description.startswith("against") else FOR)
            for name, label, role, description, rule, features in COMPOUND]


LABELING_FUNCTIONS: list[LabelingFunction] = _generated() + _compound()


def _check_unique(lfs: list[LabelingFunction]) -> None:
    names = [lf.name for lf in lfs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"labeling functions named twice: {repeated}")


_check_unique(LABELING_FUNCTIONS)


def lfs_for(label: str, lfs: list[LabelingFunction] | None = None) -> list[LabelingFunction]:
    return [lf for lf in (LABELING_FUNCTIONS if lfs is None else lfs) if lf.label == label]
