"""The speaker-role stage: map raw speaker labels to therapist / client / other / unknown.

Precedence, per utterance: a user override (``--roles``) > a role the source already set
(e.g. AnnoMI's `interlocutor`) > a default alias (``T``, ``Client``, ``Dr. Smith`` ...) >
inference from speech cues for generic diariser labels (``SPEAKER_00``) > ``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rupturekit.errors import ProblemLog
from rupturekit.records import ROLES, Transcript

_THERAPIST_ALIASES = (
    "t", "th", "ther", "therapist", "counselor", "counsellor", "clinician", "psychologist",
    "psychotherapist", "psychiatrist", "interviewer", "doctor", "dr", "practitioner", "analyst",
)
_CLIENT_ALIASES = ("c", "p", "pt", "cl", "client", "patient", "interviewee")

# Normalised label (see `normalise_label`) -> role.
DEFAULT_ALIASES: dict[str, str] = {
    **{alias: "therapist" for alias in _THERAPIST_ALIASES},
    **{alias: "client" for alias in _CLIENT_ALIASES},
}

_SPACES = re.compile(r"\s+")
# "Dr. Smith", "Dr Smith", "Dr. Anna Smith" (normalised, so lower case).
_DOCTOR = re.compile(r"^dr\.?\s+\S")
# "Client (Anna)", "Therapist 2", "Client_1": an alias with a qualifier after it.
_QUALIFIED = re.compile(r"^(?P<base>.+?)(?:\s*\([^()]*\)|[\s_\-]+\d{1,2})$")
# Diariser and placeholder labels that say nothing about the role: SPEAKER_00, SPEAKER 1,
# Speaker A, spk0, spkr_2, S1, Person 2, Voice 1, Participant 3, UNKNOWN, ?.
GENERIC_LABEL = re.compile(
    r"^(?:(?:speaker|spkr|spk|person|voice|participant)[\s_\-]*(?:\d{1,3}|[a-z])?"
    r"|s[\s_\-]*\d{1,3}|unknown(?:[\s_\-]*speaker)?|unk|\?+)$"
)
# Placeholders for "nobody assigned": generic, but never inferred to be the therapist or client.
_PLACEHOLDER = re.compile(r"^(?:unknown(?:[\s_\-]*speaker)?|unk|\?+|speaker)$")


def normalise_label(label: str) -> str:
    """Case-folded, whitespace-collapsed label without trailing dots: 'Th. ' -> 'th'."""
    return _SPACES.sub(" ", label).strip().rstrip(".").strip().casefold()


def alias_role(label: str) -> str | None:
    """The default role of a label, or None when the label is not a known alias."""
    key = normalise_label(label)
    role = DEFAULT_ALIASES.get(key)
    if role is not None:
        return role
    if _DOCTOR.match(key):
        return "therapist"
    qualified = _QUALIFIED.match(key)
    if qualified:
        base = qualified.group("base").rstrip(".").strip()
        # Single letters with a number ("p1", "c 2") are participant codes in many studies.
        if len(base) > 1 or "(" in key:
            return DEFAULT_ALIASES.get(base) or ("therapist" if _DOCTOR.match(base) else None)
    return None


def is_generic_label(label: str) -> bool:
    return GENERIC_LABEL.match(normalise_label(label)) is not None


def parse_role_overrides(spec: str) -> dict[str, str]:
    """Parse ``"Dr. Smith=therapist,Anna=client"`` into {label: role}.

    Raises ValueError naming the bad item for bad syntax, an unknown role, or a label
    given two different roles. Labels cannot contain ',' or '='.
    """
    overrides: dict[str, str] = {}
    for raw_item in spec.split(","):
        item = raw_item.strip()
        if not item:  # tolerate "a=b," and an empty spec
            continue
        if item.count("=") != 1:
            raise ValueError(f"bad role override '{item}': expected LABEL=ROLE, e.g. 'Anna=client'")
        label, role = (part.strip() for part in item.split("="))
        label = _SPACES.sub(" ", label)
        if not label:
            raise ValueError(f"bad role override '{item}': the speaker label is empty")
        role = role.casefold()
        if role not in ROLES:
            raise ValueError(
                f"bad role override '{item}': role '{role}' is not one of {', '.join(ROLES)}"
            )
        if overrides.get(label, role) != role:
            raise ValueError(
                f"bad role override '{item}': '{label}' is already set to '{overrides[label]}'"
            )
        overrides[label] = role
    return overrides


# --- inference for generic labels -------------------------------------------------------

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_YOU = frozenset({"you", "your", "yours", "yourself", "yourselves", "you're", "you've",
                  "you'd", "you'll", "ya"})
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll"})
# A turn that opens with one of these is read as a question even without a '?'.
_QUESTION_STARTS = frozenset({
    "what", "how", "why", "when", "where", "who", "which", "whose", "do", "does", "did", "is",
    "are", "was", "were", "can", "could", "would", "will", "have", "has", "should", "shall",
    "may", "might", "tell",
})
_REFLECTION = re.compile(
    r"\b(?:it sounds like|sounds like|so you|what i'm hearing|what i hear|i'm hearing|"
    r"it seems like|you're saying|you're feeling|you feel|if i understand)\b"
)
# Weights of the cues in the therapist score. Each cue is turned into a share among the
# candidate speakers (summing to 1), so the scores of all candidates sum to about 1.
_WEIGHTS = {"question": 0.3, "you": 0.25, "first_person": 0.2, "reflection": 0.15, "opens": 0.1}


@dataclass
class _Cues:
    turns: int = 0
    words: int = 0
    questions: int = 0
    you: int = 0
    first_person: int = 0
    reflections: int = 0
    opens: bool = False

    def rate(self, count: int, per_words: bool) -> float:
        total = self.words if per_words else self.turns
        return count / total if total else 0.0

    @property
    def rates(self) -> dict[str, float]:
        return {
            "question": self.rate(self.questions, per_words=False),
            "you": self.rate(self.you, per_words=True),
            "first_person": self.rate(self.first_person, per_words=True),
            "reflection": self.rate(self.reflections, per_words=False),
        }


def _measure(texts_by_speaker: dict[str, list[str]], opener: str | None) -> dict[str, _Cues]:
    cues: dict[str, _Cues] = {}
    for speaker, texts in texts_by_speaker.items():
        cue = cues[speaker] = _Cues(opens=speaker == opener)
        for text in texts:
            lowered = text.casefold().replace("\u2019", "'")
            words = _WORD.findall(lowered)
            cue.turns += 1
            cue.words += len(words)
            cue.you += sum(word in _YOU for word in words)
            cue.first_person += sum(word in _FIRST_PERSON for word in words)
            if "?" in text or (words and words[0] in _QUESTION_STARTS):
                cue.questions += 1
            if _REFLECTION.search(lowered):
                cue.reflections += 1
    return cues


def _scores(cues: dict[str, _Cues]) -> dict[str, float]:
    """Therapist score per speaker: weighted shares of the cues among the candidates."""
    speakers = list(cues)
    k = len(speakers)
    rates = {s: cues[s].rates for s in speakers}
    scores = dict.fromkeys(speakers, 0.0)
    for cue in ("question", "you", "reflection", "first_person"):
        total = sum(rates[s][cue] for s in speakers)
        for s in speakers:
            if total == 0:
                share = 1 / k  # the cue does not discriminate
            elif cue == "first_person":  # clients talk about themselves more: invert
                share = (total - rates[s][cue]) / ((k - 1) * total)
            else:
                share = rates[s][cue] / total
            scores[s] += _WEIGHTS[cue] * share
    someone_opens = any(c.opens for c in cues.values())
    for s in speakers:
        share = (1.0 if cues[s].opens else 0.0) if someone_opens else 1 / k
        scores[s] += _WEIGHTS["opens"] * share
    return scores


def _infer(transcript: Transcript, candidates: list[str]) -> tuple[dict[str, str], float,
                                                                     dict[str, dict]]:
    """Roles for generic speakers from cues: (role by speaker, confidence, cues by speaker)."""
    texts: dict[str, list[str]] = {s: [] for s in candidates}
    for utterance in transcript.utterances:
        if utterance.speaker in texts:
            texts[utterance.speaker].append(utterance.text)
    first = transcript.utterances[0].speaker if transcript.utterances else None
    cues = _measure(texts, first)
    scores = _scores(cues)
    ranked = sorted(candidates, key=lambda s: -scores[s])  # stable: ties keep first-seen order
    # Heuristic confidence, not a probability: 0.5 when the top two scores tie, rising
    # linearly with their margin (scores lie in [0, 1]) to 1.0 when one takes everything.
    margin = scores[ranked[0]] - scores[ranked[1]]
    confidence = min(1.0, max(0.5, 0.5 + 0.5 * margin))
    roles = {ranked[0]: "therapist"}
    others = sorted(ranked[1:], key=lambda s: -cues[s].words)
    roles[others[0]] = "client"
    for extra in others[1:]:
        roles[extra] = "unknown"
    details = {}
    for s in candidates:
        rates = cues[s].rates
        details[s] = {
            "question_rate": round(rates["question"], 3),
            "you_rate": round(rates["you"], 3),
            "first_person_rate": round(rates["first_person"], 3),
            "reflection_rate": round(rates["reflection"], 3),
            "opens": cues[s].opens,
            "turns": cues[s].turns,
            "words": cues[s].words,
            "score": round(scores[s], 3),
        }
    return roles, confidence, details


def assign_roles(transcript: Transcript, overrides: dict[str, str], log: ProblemLog,
                 file: str) -> Transcript:
    """Set `role` on every utterance of `transcript`, in place, and return it.

    See the module docstring for the order of precedence. Overrides match the speaker label
    exactly, then case-insensitively; overrides for speakers absent from this transcript
    are ignored (the CLI checks across the batch).
    """
    folded = {normalise_label(label): role for label, role in overrides.items()}
    roles: dict[int, str] = {}
    pending: dict[str, list[int]] = {}  # speakers left for inference or 'unknown'
    for index, utterance in enumerate(transcript.utterances):
        speaker = utterance.speaker
        role = overrides.get(speaker) or folded.get(normalise_label(speaker))
        if role is None and utterance.role != "unknown":
            role = utterance.role
        if role is None:
            role = alias_role(speaker)
        if role is None:
            pending.setdefault(speaker, []).append(index)
        else:
            roles[index] = role

    generic = [s for s in pending if is_generic_label(s)]
    candidates = [s for s in generic if not _PLACEHOLDER.match(normalise_label(s))]
    where = f"transcript {transcript.transcript_id}"
    inferred: dict[str, dict] = {}
    if len(candidates) >= 2:
        by_speaker, confidence, details = _infer(transcript, candidates)
        for speaker, role in by_speaker.items():
            inferred[speaker] = {"method": "cues", "role": role,
                                 "confidence": round(confidence, 3), "cues": details[speaker]}
        therapist = next(s for s, r in by_speaker.items() if r == "therapist")
        client = next(s for s, r in by_speaker.items() if r == "client")
        log.warn(file, f"inferred {therapist} = therapist (confidence {confidence:.2f}) and "
                       f"{client} = client from question, second-person, first-person, "
                       f"reflection and opening cues (a heuristic); check it, or override "
                       f"with --roles '{therapist}=therapist,{client}=client'", location=where)
        for speaker, role in by_speaker.items():
            if role == "unknown":
                log.warn(file, f"could not infer a role for speaker '{speaker}' (more than two "
                               f"generic speakers); set it with --roles '{speaker}=other'",
                         location=where, once=f"speaker:{speaker}")
    elif len(candidates) == 1:
        speaker = candidates[0]
        log.warn(file, f"only one generic speaker label ('{speaker}'), so its role is not "
                       f"inferred and stays unknown; set it with --roles '{speaker}=client'",
                 location=where, once=f"speaker:{speaker}")

    for speaker, indexes in pending.items():
        role = inferred[speaker]["role"] if speaker in inferred else "unknown"
        if speaker not in inferred and speaker not in candidates:
            log.warn(file, f"speaker '{speaker}' is not a known role label, so its role is "
                           f"unknown; set it with --roles '{speaker}=client' (or therapist, "
                           f"other)", once=f"speaker:{speaker}")
        for index in indexes:
            roles[index] = role

    by_inference = {i for s in inferred for i in pending[s]}
    for index, utterance in enumerate(transcript.utterances):
        utterance.role = roles[index]  # type: ignore[assignment]  # always one of ROLES
        if index in by_inference:
            record = inferred[utterance.speaker]
            utterance.meta["role_inference"] = {**record, "cues": dict(record["cues"])}
    return transcript
