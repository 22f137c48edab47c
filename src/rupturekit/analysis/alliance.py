"""Session-by-session alliance ratings: reading them, and three published rupture-repair criteria.

Input: a long table, one row per (patient, session): the patient, the session number, and any of
an alliance score (WAI total or a subscale, CALPAS, ...), PSQ rupture items (occurrence,
intensity, resolution), an outcome score, the transcript of the session, a site. Columns are
found by common names or mapped with ``--columns role=COLUMN,...`` (`ROLES`). Other numeric
columns are kept as extra measures. A missed assessment is a row with an empty cell; a missing
row (a session number skipped), a duplicate (patient, session) or a non-numeric score is an
error naming the line.

The criteria work on each patient's assessments in session order (empty cells skipped) and
count sessions by their numbers. Each is a named, tested rule; the choices the papers leave
open are stated here.

**stevens** (Stevens, Muran, Safran, Gorman & Winston 2007). A rupture is a drop of at least
``drop`` (1 point) from one assessment to the next; the earlier score is the pre-rupture level.
It is repaired when a later score comes back to at least the pre-rupture level minus
``tolerance`` (.25) within ``window`` sessions of the rupture session. Choices: the published
"within 3-5 sessions" is read as "at most ``window`` = 5 sessions later" (a quicker return counts
too); the 1-point drop is on the WAI's 1-7 item-mean scale (a sum score needs ``drop`` and
``tolerance`` rescaled); a drop inside an episode that is later repaired belongs to that episode;
an unrepaired rupture whose window runs past the last *observed* score is marked *censored*;
patients with fewer than 2 scores are skipped with a warning, and counted (never scored as "no
rupture"). A steady decline opens a new rupture at each further drop of ``drop`` (each against
its own pre-rupture level): read the rupture count with that in mind.

**strauss** (Strauss et al. 2006). The threshold is the mean, over the sample's patients with at
least 3 assessments, of each patient's standard deviation (n - 1) of alliance scores. A rupture
is a drop of at least the threshold from one assessment to the next; its resolution is a later
rise of at least the threshold from one assessment to the next. Patients with fewer than 3
assessments are skipped with a warning, and counted. Choices: no time limit on the resolution;
drops between a rupture and its resolution belong to that episode.

**stiles** (Stiles et al. 2004), a V-shaped deflection. The paper's text was not available to
this tool's authors; what is implemented follows the secondary descriptions (Gumz et al. 2012:
a V of at least 2 SD, the patient's own SD): an assessment is the low point of a V when it lies at
least ``k`` (2) times the SD (n - 1) of the patient's *other* assessments below both the
assessment before it and the one after it; the dip is the rupture and the next assessment its
repair. Choices: the candidate low point is left out of the SD (with it in, a V could never be
2 SDs deep in a short series: for scores a, 0, a the SD is .58a); both neighbours (not their
mean) must clear the threshold; the first and last assessments cannot be a V's low point;
patients with fewer than 4 assessments are skipped with a warning, and counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rupturekit.analysis.tables import TableFile, parse_mapping, read_table
from rupturekit.errors import InputError

__all__ = ["CRITERIA", "ROLES", "AllianceEpisode", "Assessment", "CriteriaSettings", "Ratings", "apply_criteria",
           "patient_summaries", "read_ratings", "stevens", "stiles", "strauss"]

CRITERIA = ("stevens", "strauss", "stiles")
EPS = 1e-9  # scores are decimals: 5.0 - 4.0 must count as a drop of 1

ROLES: dict[str, tuple[str, ...]] = {  # role -> header names recognised (lower case)
    "patient": ("patient", "patient_id", "client", "client_id", "participant", "id"),
    "session": ("session", "session_number", "session_no", "session_nr", "visit"),
    "alliance": ("alliance", "wai", "wai_total", "wai_sr", "wai_s", "wai_c", "calpas", "calpas_total"),
    "outcome": ("outcome", "outcome_score"),
    "psq_occurrence": ("psq_occurrence", "psq_rupture", "rupture_occurrence"),
    "psq_intensity": ("psq_intensity", "rupture_intensity"),
    "psq_resolution": ("psq_resolution", "rupture_resolution"),
    "transcript": ("transcript", "transcript_id"),
    "site": ("site", "study"),
}
ROLE_HELP = {role: names[0] for role, names in ROLES.items()}
_YES = {"1", "yes", "y", "true", "t"}
_NO = {"0", "no", "n", "false", "f"}


@dataclass
class Assessment:
    patient: str
    session: int
    line: int
    alliance: float | None = None
    outcome: float | None = None
    psq_occurrence: float | None = None
    psq_intensity: float | None = None
    psq_resolution: float | None = None
    transcript: str | None = None
    site: str | None = None
    measures: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Ratings:
    file: str
    columns: dict[str, str]  # role -> column used
    rows: list[Assessment]

    def by_patient(self) -> dict[str, list[Assessment]]:
        out: dict[str, list[Assessment]] = defaultdict(list)
        for row in self.rows:
            out[row.patient].append(row)
        return {p: sorted(rows, key=lambda r: r.session) for p, rows in out.items()}


def _columns(table: TableFile, mapping: dict[str, str]) -> dict[str, str]:
    lower = {h.lower(): h for h in table.header}
    found: dict[str, str] = {}
    for role, names in ROLES.items():
        if role in mapping:
            if mapping[role] not in table.header:
                raise InputError(table.file, f"--columns {role}={mapping[role]}: no such column "
                                             f"(the header has: {', '.join(table.header)})",
                                 "name a column of the file", location="line 1")
            found[role] = mapping[role]
            continue
        hit = next((lower[n] for n in names if n in lower and lower[n] not in mapping.values()), None)
        if hit is not None and hit not in found.values():
            found[role] = hit
    for role in ("patient", "session"):
        if role not in found:
            raise InputError(table.file, f"no {role} column (the header has: {', '.join(table.header)})",
                             f"name it '{ROLES[role][0]}', or map it with --columns {role}=COLUMN", location="line 1")
    return found


def _flag(table: TableFile, row, column: str) -> float | None:
    text = (row.values.get(column) or "").strip().lower()
    if not text or text in ("na", "nan", "n/a"):
        return None
    if text in _YES:
        return 1.0
    if text in _NO:
        return 0.0
    raise InputError(table.file, f"rupture occurrence ({column}) '{text}' is not yes/no or 1/0",
                     "give 1 or 0 (yes or no), or leave the cell empty", location=f"line {row.line}")


def read_ratings(path: str | Path, columns: str | None = None) -> Ratings:
    """Read and check a long ratings table (see the module docstring)."""
    table = read_table(path)
    if not table.rows:
        raise InputError(table.file, "no rows", "give one row per patient and session")
    used = _columns(table, parse_mapping(columns, ROLE_HELP))
    extra = [h for h in table.header if h and h not in used.values()]
    rows: list[Assessment] = []
    seen: dict[tuple[str, int], int] = {}
    for row in table.rows:
        patient = (row.values.get(used["patient"]) or "").strip()
        if not patient:
            raise InputError(table.file, f"the patient ({used['patient']}) is empty", "give every row a patient id",
                             location=f"line {row.line}")
        value = table.number(row, used["session"], "session number", required=True,
                             hint="give the session number (1, 2, 3, ...)")
        if value is None or value != int(value) or value < 0:
            raise InputError(table.file, f"session number ({used['session']}) '{row.values.get(used['session'])}' "
                                         "is not a whole number >= 0", "number the sessions 1, 2, 3, ...",
                             location=f"line {row.line}")
        session = int(value)
        if (patient, session) in seen:
            raise InputError(table.file, f"patient '{patient}' session {session} repeats line "
                                         f"{seen[(patient, session)]}",
                             "keep one row per patient and session (merge or remove the duplicate)",
                             location=f"line {row.line}")
        seen[(patient, session)] = row.line
        item = Assessment(patient, session, row.line)
        for role in ("alliance", "outcome", "psq_intensity", "psq_resolution"):
            if role in used:
                setattr(item, role, table.number(row, used[role], role.replace("_", " ")))
        if "psq_occurrence" in used:
            item.psq_occurrence = _flag(table, row, used["psq_occurrence"])
        for role in ("transcript", "site"):
            if role in used:
                setattr(item, role, (row.values.get(used[role]) or "").strip() or None)
        for column in extra:
            text = (row.values.get(column) or "").strip()
            try:
                item.measures[column] = float(text) if text else None
            except ValueError:
                item.measures[column] = None  # a text column (a note, a date): not a measure
        rows.append(item)
    # Keep only extra columns that hold numbers somewhere.
    numeric = {c for r in rows for c, v in r.measures.items() if v is not None}
    for r in rows:
        r.measures = {c: v for c, v in r.measures.items() if c in numeric}
    ratings = Ratings(table.file, used, rows)
    for patient, items in ratings.by_patient().items():
        for before, after in zip(items, items[1:], strict=False):
            if after.session - before.session > 1:
                missing = before.session + 1
                raise InputError(table.file, f"patient '{patient}' has sessions {before.session} and {after.session} "
                                             f"but no session {missing}",
                                 f"add a row for session {missing} (scores may be left empty), or renumber the "
                                 "sessions", location=f"line {after.line}")
    return ratings


# ------------------------------------------------------------------ criteria
@dataclass(frozen=True)
class CriteriaSettings:
    stevens_drop: float = 1.0
    stevens_tolerance: float = 0.25
    stevens_window: int = 5
    stiles_k: float = 2.0
    strauss_min_assessments: int = 3


DEFAULT_SETTINGS = CriteriaSettings()


@dataclass
class AllianceEpisode:
    patient: str
    criterion: str
    rupture_session: int
    pre_session: int
    pre_score: float
    rupture_score: float
    drop: float
    threshold: float
    repair_session: int | None
    repair_score: float | None
    repaired: bool
    censored: bool = False  # unrepaired, and the repair window runs past the patient's last session

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


def _observed(items: Sequence[Assessment]) -> list[tuple[int, float]]:
    return [(a.session, float(a.alliance)) for a in items if a.alliance is not None]


def stevens(patient: str, items: Sequence[Assessment], settings: CriteriaSettings = DEFAULT_SETTINGS
            ) -> list[AllianceEpisode]:
    obs = _observed(items)
    # censored: the repair window runs past the last *observed* score (empty sessions cannot repair)
    last_session = obs[-1][0] if obs else 0
    out, i = [], 1
    while i < len(obs):
        (pre_s, pre), (s, x) = obs[i - 1], obs[i]
        if pre - x >= settings.stevens_drop - EPS:
            repair = None
            for j in range(i + 1, len(obs)):
                if obs[j][0] - s > settings.stevens_window:
                    break
                if obs[j][1] >= pre - settings.stevens_tolerance - EPS:
                    repair = j
                    break
            out.append(AllianceEpisode(
                patient, "stevens", s, pre_s, pre, x, pre - x, settings.stevens_drop,
                obs[repair][0] if repair is not None else None, obs[repair][1] if repair is not None else None,
                repair is not None, repair is None and last_session - s < settings.stevens_window))
            i = repair + 1 if repair is not None else i + 1
        else:
            i += 1
    return out


STILES_MIN = 4  # a V and a leave-one-out SD need the low point and at least three other scores
STEVENS_MIN = 2  # a drop needs two scores


def strauss_threshold(by_patient: dict[str, list[Assessment]], min_assessments: int = 3) -> float | None:
    """The mean within-patient SD (n - 1) over patients with at least `min_assessments` scores."""
    sds = [float(np.std([x for _, x in obs], ddof=1)) for obs in map(_observed, by_patient.values())
           if len(obs) >= min_assessments]
    return float(np.mean(sds)) if sds else None


def strauss(patient: str, items: Sequence[Assessment], threshold: float) -> list[AllianceEpisode]:
    obs = _observed(items)
    out, i = [], 1
    while i < len(obs):
        (pre_s, pre), (s, x) = obs[i - 1], obs[i]
        if threshold > 0 and pre - x >= threshold - EPS:
            repair = next((j for j in range(i + 1, len(obs)) if obs[j][1] - obs[j - 1][1] >= threshold - EPS), None)
            out.append(AllianceEpisode(patient, "strauss", s, pre_s, pre, x, pre - x, threshold,
                                       obs[repair][0] if repair is not None else None,
                                       obs[repair][1] if repair is not None else None, repair is not None))
            i = repair + 1 if repair is not None else i + 1
        else:
            i += 1
    return out


def stiles(patient: str, items: Sequence[Assessment], settings: CriteriaSettings = DEFAULT_SETTINGS
           ) -> list[AllianceEpisode]:
    obs = _observed(items)
    if len(obs) < STILES_MIN:
        return []
    out = []
    for t in range(1, len(obs) - 1):
        # the SD of the patient's *other* scores: with the candidate low point in it, a V could
        # never be 2 SDs deep in a short series (for a, 0, a the SD is .58a, so 2 SD > the drop)
        sd = float(np.std([x for k, (_, x) in enumerate(obs) if k != t], ddof=1))
        threshold = settings.stiles_k * sd
        (pre_s, pre), (s, x), (post_s, post) = obs[t - 1], obs[t], obs[t + 1]
        # a real dip on both sides (with constant other scores the SD is 0: any dip is deep enough)
        if min(pre - x, post - x) > EPS and pre - x >= threshold - EPS and post - x >= threshold - EPS:
            out.append(AllianceEpisode(patient, "stiles", s, pre_s, pre, x, pre - x, threshold, post_s, post, True))
    return out


@dataclass
class CriteriaResult:
    episodes: list[AllianceEpisode]
    strauss_threshold: float | None
    skipped: dict[str, list[str]]  # criterion -> patients skipped (too few assessments)
    settings: CriteriaSettings
    warnings: list[str] = field(default_factory=list)


def apply_criteria(ratings: Ratings, criteria: Sequence[str] = CRITERIA,
                   settings: CriteriaSettings = DEFAULT_SETTINGS) -> CriteriaResult:
    if "alliance" not in ratings.columns:
        raise InputError(ratings.file, "no alliance column for the rupture criteria",
                         "name it 'alliance' (or wai, calpas, ...), or map it with --columns alliance=COLUMN",
                         location="line 1")
    by_patient = ratings.by_patient()
    episodes: list[AllianceEpisode] = []
    skipped: dict[str, list[str]] = {c: [] for c in criteria}
    warnings: list[str] = []
    minimum = settings.strauss_min_assessments
    threshold = strauss_threshold(by_patient, minimum) if "strauss" in criteria else None
    scores = [x for items in by_patient.values() for _, x in _observed(items)]
    if "stevens" in criteria and scores and max(scores) > 7 + EPS:
        warnings.append(f"stevens: alliance scores reach {max(scores):g}, above the WAI's 1-7 item-mean scale; "
                        "the 1-point drop and .25 return assume item means (rescale --stevens-drop and "
                        "--stevens-tolerance for sum scores)")
    # too short a series is skipped and counted, never scored as "no rupture-repair"
    needs = {"stevens": STEVENS_MIN, "strauss": minimum, "stiles": max(minimum, STILES_MIN)}
    for patient, items in by_patient.items():
        n = len(_observed(items))
        for criterion in criteria:
            if n < needs[criterion]:
                skipped[criterion].append(patient)
            elif criterion == "stevens":
                episodes += stevens(patient, items, settings)
            elif criterion == "strauss":
                episodes += strauss(patient, items, threshold or 0.0)
            else:
                episodes += stiles(patient, items, settings)
    for criterion in criteria:
        if skipped.get(criterion):
            shown = ", ".join(repr(p) for p in skipped[criterion][:5])
            more = f" and {len(skipped[criterion]) - 5} more" if len(skipped[criterion]) > 5 else ""
            warnings.append(f"{criterion}: {len(skipped[criterion])} patient(s) with fewer than {needs[criterion]} "
                            f"alliance assessments skipped ({shown}{more})")
    if "strauss" in criteria and threshold is None:
        warnings.append(f"strauss: no patient has {minimum} or more alliance assessments; no threshold, no episodes")
    return CriteriaResult(episodes, threshold, skipped, settings, warnings)


def patient_summaries(ratings: Ratings, result: CriteriaResult, criteria: Sequence[str]) -> list[dict[str, Any]]:
    """One row per patient: assessments, alliance, outcome change (last - first), PSQ items, and per
    criterion the ruptures, repairs and the presence of a rupture-repair sequence (empty when skipped)."""
    rows = []
    for patient, items in ratings.by_patient().items():
        alliance = [a.alliance for a in items if a.alliance is not None]
        outcome = [a.outcome for a in items if a.outcome is not None]
        row: dict[str, Any] = {"patient": patient, "site": next((a.site for a in items if a.site), None),
                               "sessions": len(items), "alliance_assessments": len(alliance),
                               "alliance_mean": float(np.mean(alliance)) if alliance else None,
                               "alliance_first": alliance[0] if alliance else None,
                               "alliance_last": alliance[-1] if alliance else None,
                               "outcome_first": outcome[0] if outcome else None,
                               "outcome_last": outcome[-1] if outcome else None,
                               "outcome_change": outcome[-1] - outcome[0] if len(outcome) >= 2 else None}
        occurrence = [a.psq_occurrence for a in items if a.psq_occurrence is not None]
        if "psq_occurrence" in ratings.columns:
            row["psq_rupture_sessions"] = int(sum(occurrence)) if occurrence else None
        for role in ("psq_intensity", "psq_resolution"):
            if role in ratings.columns:
                values = [getattr(a, role) for a in items if getattr(a, role) is not None]
                row[f"{role}_mean"] = float(np.mean(values)) if values else None
        for criterion in criteria:
            mine = [e for e in result.episodes if e.patient == patient and e.criterion == criterion]
            if patient in result.skipped.get(criterion, []):
                row |= {f"{criterion}_ruptures": None, f"{criterion}_repaired": None,
                        f"{criterion}_rupture_repair": None}
                continue
            row |= {f"{criterion}_ruptures": len(mine), f"{criterion}_repaired": sum(e.repaired for e in mine),
                    f"{criterion}_rupture_repair": int(any(e.repaired for e in mine))}
        rows.append(row)
    return rows


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))
