"""The features, one decorated function each; their order here is the column order.

Every feature is computed for every utterance, whatever its role: a client cue on a
therapist row (or a therapist cue on a client row) is computed by the same rule, and
`FeatureSpec.roles` says where it is meant to be read. Context features look at the
previous turn of *another speaker* (`prev other`): for a client that is normally the
therapist's last turn, for a therapist the client's. A row with no such turn gets 0.

Value conventions: flags are 0/1; rates are per word and in [0, 1]; counts are raw;
`len_ratio_prev` is a log2 ratio; `latency_s` is clipped to [-30, 60] seconds.
"""

from __future__ import annotations

import numpy as np

from rupturekit.features import lexicons as lx
from rupturekit.features.context import Context
from rupturekit.features.registry import BOTH, REGISTRY, THERAPIST, FeatureSpec, feature
from rupturekit.features.text import CLOSED, OPEN, alternation, near

# A turn this short (in words) is a minimal answer whatever the speaker's habits.
SHORT_WORDS = 3
# A turn at least this long and twice the speaker's median is a long turn.
LONG_WORDS = 25
# Cosine below which a turn counts as semantically away from the previous other turn.
TOPIC_SHIFT_COSINE = 0.2

_BACKCHANNEL_ONLY = r"^(?:[\W_]*" + alternation(lx.BACKCHANNEL) + r")+[\W_]*$"
_AGREEMENT_START = r"^\W*" + alternation(lx.AGREEMENT)
_TASK_COMPLAINT = near(lx.TASK_NOUNS, lx.NEGATIVE_EVALUATION, gap=8)
_FRAME_COMPLAINT = near(lx.FRAME_NOUNS, lx.NEGATIVE_EVALUATION, gap=8)
_IMPERATIVE = lx.IMPERATIVE_LEAD + alternation(lx.IMPERATIVE_VERBS)


def _flag(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask, dtype=np.float64)


# ======================================================================================
# Withdrawal: minimal response
# ======================================================================================

@feature("word_count", "withdrawal", ("minimal_response", "avoidant_storytelling"))
def word_count(c: Context) -> np.ndarray:
    """Words in the turn (spaCy tokens with a letter or digit; contraction halves not counted)."""
    return c.words


@feature("log_word_count", "withdrawal", ("minimal_response", "avoidant_storytelling"))
def log_word_count(c: Context) -> np.ndarray:
    """log(1 + words)."""
    return np.log1p(c.words)


@feature("backchannel_only", "withdrawal", "minimal_response", flag=True)
def backchannel_only(c: Context) -> np.ndarray:
    """1 if the turn is only backchannels/fillers ("Yeah.", "Mm-hmm.", "Fine.", "I guess")."""
    return _flag(c.match(_BACKCHANNEL_ONLY) & (c.words > 0))


@feature("len_vs_own_median", "withdrawal", ("minimal_response", "avoidant_storytelling"))
def len_vs_own_median(c: Context) -> np.ndarray:
    """Words / the speaker's median words in this transcript, capped at 10."""
    return np.clip(c.words / np.maximum(c.median_words, 1.0), 0.0, 10.0)


@feature("short_vs_own_median", "withdrawal", "minimal_response", flag=True)
def short_vs_own_median(c: Context) -> np.ndarray:
    """1 if the turn has at most half the speaker's median words in this transcript."""
    return _flag((c.words * 2 <= c.median_words) & (c.median_words >= 2))


@feature("dont_know", "withdrawal", "minimal_response", flag=True)
def dont_know(c: Context) -> np.ndarray:
    """1 if the turn says "I don't know" or a short form ("dunno", "no idea", "not sure")."""
    return _flag(c.match(lx.DONT_KNOW))


@feature("prev_open_question", "withdrawal", "minimal_response", flag=True)
def prev_open_question(c: Context) -> np.ndarray:
    """1 if the previous other-speaker turn ends on an open question or invitation ("How...", "Tell me...")."""
    return c.at_prev_other(c.prompt_type == OPEN)


@feature("short_after_open_question", "withdrawal", "minimal_response",
         needs=("dont_know", "backchannel_only", "prev_open_question"), flag=True)
def short_after_open_question(c: Context) -> np.ndarray:
    """1 if an open question gets <= 3 words, only backchannels, or <= 6 words with "I don't know"."""
    dont_know_short = (c.words <= 6) & (c.columns["dont_know"] > 0)
    short = (c.words <= SHORT_WORDS) | (c.columns["backchannel_only"] > 0) | dont_know_short
    return _flag(short & (c.columns["prev_open_question"] > 0))


@feature("short_after_closed_question", "withdrawal", "minimal_response", flag=True)
def short_after_closed_question(c: Context) -> np.ndarray:
    """1 if a turn of <= 3 words answers a closed question (a short answer that is expected: counter-cue)."""
    return _flag((c.words <= SHORT_WORDS) & (c.at_prev_other(c.prompt_type == CLOSED) > 0))


@feature("hedge_rate", "withdrawal", ("minimal_response", "deferential_appeasing"))
def hedge_rate(c: Context) -> np.ndarray:
    """Hedges per word ("I guess", "maybe", "sort of", "probably")."""
    return c.rate(c.count(lx.HEDGES))


# ======================================================================================
# Withdrawal: denial
# ======================================================================================

@feature("denial", "withdrawal", "denial", flag=True)
def denial(c: Context) -> np.ndarray:
    """1 if the turn denies a feeling or problem ("I'm fine", "not a big deal", "doesn't bother me")."""
    return _flag(c.match(lx.DENIAL))


@feature("denial_after_feeling_named", "withdrawal", "denial", flag=True)
def denial_after_feeling_named(c: Context) -> np.ndarray:
    """1 if the prev other turn named a feeling and this turn denies it (a denial phrase, or opens with "no")."""
    named = c.at_prev_other(c.match(lx.NAMES_FEELING)) > 0
    opens_no = c.match(lx.OPENING_NO) & ~c.match(lx.BENIGN_NO)
    return _flag(named & (c.match(lx.DENIAL) | opens_no))


# ======================================================================================
# Withdrawal: deference and appeasing
# ======================================================================================

@feature("deference", "withdrawal", "deferential_appeasing", flag=True)
def deference(c: Context) -> np.ndarray:
    """1 if the turn defers or placates ("whatever you think", "you're the expert", "you tell me")."""
    return _flag(c.match(lx.DEFERENCE))


@feature("agree_after_suggestion", "withdrawal", "deferential_appeasing", flag=True)
def agree_after_suggestion(c: Context) -> np.ndarray:
    """1 if a short turn (<= 8 words) opens with agreement right after a suggestion or directive."""
    suggested = c.at_prev_other(c.match(lx.SUGGESTION)) > 0
    return _flag(c.match(_AGREEMENT_START) & (c.words <= 8) & suggested)


@feature("repeated_agreement", "withdrawal", "deferential_appeasing", flag=True)
def repeated_agreement(c: Context) -> np.ndarray:
    """1 if a turn of <= 15 words agrees two or more times ("Sure, sure, you're absolutely right")."""
    return _flag((c.count(lx.AGREEMENT) >= 2) & (c.words <= 15))


# ======================================================================================
# Withdrawal: abstract communication
# ======================================================================================

@feature("generic_person_rate", "withdrawal", "abstract_communication")
def generic_person_rate(c: Context) -> np.ndarray:
    """Generic persons per word ("people", "everyone", "one should", "when you're older")."""
    return c.rate(c.count(lx.GENERIC_PERSON))


@feature("generalizing", "withdrawal", "abstract_communication", flag=True)
def generalizing(c: Context) -> np.ndarray:
    """1 if the turn generalises or intellectualises ("in general", "that's life", "philosophical")."""
    return _flag(c.match(lx.GENERALIZING))


@feature("abstract_noun_rate", "withdrawal", "abstract_communication")
def abstract_noun_rate(c: Context) -> np.ndarray:
    """Abstract nouns per word (nominalisations like "-ness/-ity/-tion", and "things", "life", "issue")."""
    return c.token_rate("abstract")


@feature("no_first_person", "withdrawal", "abstract_communication", flag=True)
def no_first_person(c: Context) -> np.ndarray:
    """1 if a turn of >= 8 words has no I/me/my/mine/myself."""
    return _flag((c.words >= 8) & (c.token_count("first_singular") == 0))


# ======================================================================================
# Withdrawal: avoidant storytelling and topic shift
# ======================================================================================

@feature("content_overlap_prev", "withdrawal", "avoidant_storytelling")
def content_overlap_prev(c: Context) -> np.ndarray:
    """Jaccard overlap of content-word stems with the prev other turn (low: topic moved)."""
    return c.overlap_prev_other[0]


@feature("embed_cos_prev", "withdrawal", "avoidant_storytelling")
def embed_cos_prev(c: Context) -> np.ndarray:
    """Cosine of mean static MiniLM word-piece embeddings with the prev other turn (0 when embeddings are off)."""
    return c.embed_cos_prev_other


@feature("topic_shift", "withdrawal", "avoidant_storytelling", flag=True)
def topic_shift(c: Context) -> np.ndarray:
    """1 if a turn with >= 4 content words shares none with the prev other turn (and, with embeddings, is far off)."""
    own = np.fromiter((len(s) for s in c.content_sets), np.int64, c.n)
    other = c.at_prev_other(own)
    shifted = (own >= 4) & (other >= 2) & (c.overlap_prev_other[0] == 0)
    if c.embeddings_used:
        shifted &= c.embed_cos_prev_other < TOPIC_SHIFT_COSINE
    return _flag(shifted)


@feature("topic_change_marker", "withdrawal", "avoidant_storytelling", flag=True)
def topic_change_marker(c: Context) -> np.ndarray:
    """1 if the turn signals a change of topic ("anyway", "by the way", "that reminds me")."""
    return _flag(c.match(lx.TOPIC_CHANGE))


@feature("narrative_markers", "withdrawal", "avoidant_storytelling")
def narrative_markers(c: Context) -> np.ndarray:
    """Count of story-telling markers ("so then", "the other day", "and then she goes")."""
    return c.count(lx.NARRATIVE)


@feature("past_tense_rate", "withdrawal", "avoidant_storytelling")
def past_tense_rate(c: Context) -> np.ndarray:
    """Past-tense verbs per word (irregular list plus the -ed rule): narrative density."""
    return c.token_rate("past")


@feature("long_vs_own_median", "withdrawal", "avoidant_storytelling", flag=True)
def long_vs_own_median(c: Context) -> np.ndarray:
    """1 if the turn has >= 25 words and at least twice the speaker's median words."""
    return _flag((c.words >= LONG_WORDS) & (c.words >= 2 * c.median_words))


# ======================================================================================
# Withdrawal: content/affect split
# ======================================================================================

@feature("laughter", "withdrawal", "content_affect_split", flag=True)
def laughter(c: Context) -> np.ndarray:
    """1 if the turn laughs ("haha", "lol", "[laughs]")."""
    return _flag(c.match(lx.LAUGHTER))


@feature("minimizing", "withdrawal", "content_affect_split", flag=True)
def minimizing(c: Context) -> np.ndarray:
    """1 if the turn brushes things off ("it's all good", "oh well", "classic me")."""
    return _flag(c.match(lx.MINIMIZING))


@feature("painful_content", "withdrawal", "content_affect_split", flag=True)
def painful_content(c: Context) -> np.ndarray:
    """1 if the turn mentions a painful event or state ("died", "left me", "fired", "hospital")."""
    return _flag(c.match(lx.PAINFUL_CONTENT))


@feature("affect_split", "withdrawal", "content_affect_split", needs=("laughter", "minimizing", "painful_content"),
         flag=True)
def affect_split(c: Context) -> np.ndarray:
    """1 if painful content comes with laughter, minimising, or cheerful VADER sentiment (>= 0.5, pos > 2 x neg)."""
    cheerful = (c.sentiment[:, 0] >= 0.5) & (c.sentiment[:, 1] > 2 * c.sentiment[:, 2])
    positive = (c.columns["laughter"] > 0) | (c.columns["minimizing"] > 0) | cheerful
    return _flag((c.columns["painful_content"] > 0) & positive)


# ======================================================================================
# Withdrawal: self-criticism and hopelessness
# ======================================================================================

@feature("self_criticism", "withdrawal", "self_criticism_hopelessness", flag=True)
def self_criticism(c: Context) -> np.ndarray:
    """1 if the turn blames or runs down the speaker ("I'm useless", "my fault", "I ruin everything")."""
    return _flag(c.match(lx.SELF_CRITICISM))


@feature("hopelessness", "withdrawal", "self_criticism_hopelessness", flag=True)
def hopelessness(c: Context) -> np.ndarray:
    """1 if the turn is hopeless about change ("never get better", "what's the point", "I give up")."""
    return _flag(c.match(lx.HOPELESSNESS))


# ======================================================================================
# Confrontation
# ======================================================================================

@feature("you_negative_eval", "confrontation", "complaint_therapist", flag=True)
def you_negative_eval(c: Context) -> np.ndarray:
    """1 if the turn evaluates "you" negatively ("you don't understand", "you're not listening", "you never")."""
    return _flag(c.match(lx.YOU_NEGATIVE))


@feature("you_negative_sentiment", "confrontation", "complaint_therapist", flag=True)
def you_negative_sentiment(c: Context) -> np.ndarray:
    """1 if "you" words are >= 8% of the turn and its VADER compound is <= -0.3."""
    return _flag((c.token_rate("second") >= 0.08) & (c.sentiment[:, 0] <= -0.3))


@feature("rejection_phrase", "confrontation", "rejects_intervention", flag=True)
def rejection_phrase(c: Context) -> np.ndarray:
    """1 if the turn rejects outright ("that's not it", "I don't agree", "that won't work")."""
    return _flag(c.match(lx.REJECTION))


def _prev_intervention(c: Context) -> np.ndarray:
    """The prev other turn suggests something, or states something (a reflection, an interpretation)
    without asking a question: a "no" or "but" after it pushes back rather than answers."""
    suggestion = c.match(lx.SUGGESTION)
    statement = c.question_sentences == 0
    return (c.at_prev_other(suggestion | statement) > 0) & c.has_prev_other


@feature("opens_no_after_intervention", "confrontation", "rejects_intervention", flag=True)
def opens_no_after_intervention(c: Context) -> np.ndarray:
    """1 if the turn opens with "no/nope/nah" after a suggestion or statement (not after a question)."""
    return _flag(c.match(lx.OPENING_NO) & ~c.match(lx.BENIGN_NO) & _prev_intervention(c))


@feature("opens_but_after_intervention", "confrontation", "rejects_intervention", flag=True)
def opens_but_after_intervention(c: Context) -> np.ndarray:
    """1 if the turn opens with "but" / "yeah, but" after a suggestion or statement."""
    return _flag(c.match(lx.OPENING_BUT) & _prev_intervention(c))


@feature("mentions_task", "confrontation", "complaint_activities", flag=True)
def mentions_task(c: Context) -> np.ndarray:
    """1 if the turn names a therapy task ("exercise", "homework", "worksheet", "diary")."""
    return _flag(c.match(lx.TASK_NOUNS))


@feature("activity_complaint", "confrontation", "complaint_activities", flag=True)
def activity_complaint(c: Context) -> np.ndarray:
    """1 if a task noun comes within 8 words of a negative evaluation ("this exercise is pointless")."""
    return _flag(c.match(_TASK_COMPLAINT) | c.match(lx.TASK_COMPLAINT))


@feature("mentions_frame", "confrontation", "complaint_parameters", flag=True)
def mentions_frame(c: Context) -> np.ndarray:
    """1 if the turn names the frame: time, fees, scheduling, setting ("50 minutes", "paying", "cancel")."""
    return _flag(c.match(lx.FRAME_NOUNS))


@feature("frame_complaint", "confrontation", "complaint_parameters", flag=True)
def frame_complaint(c: Context) -> np.ndarray:
    """1 if a frame word comes within 8 words of a negative evaluation ("fifty minutes is never enough")."""
    return _flag(c.match(_FRAME_COMPLAINT))


@feature("progress_complaint", "confrontation", "complaint_progress", flag=True)
def progress_complaint(c: Context) -> np.ndarray:
    """1 if the turn says therapy is not helping ("this isn't helping", "going in circles", "waste of time")."""
    return _flag(c.match(lx.PROGRESS_COMPLAINT))


@feature("self_defence", "confrontation", "defends_self", flag=True)
def self_defence(c: Context) -> np.ndarray:
    """1 if the turn defends or justifies the speaker ("I did try", "not my fault", "I had no choice")."""
    return _flag(c.match(lx.SELF_DEFENCE))


@feature("justifies_after_challenge", "confrontation", "defends_self", needs=("self_defence",), flag=True)
def justifies_after_challenge(c: Context) -> np.ndarray:
    """1 if the turn justifies itself ("because", a defence phrase) right after a challenge ("why didn't you")."""
    challenged = c.at_prev_other(c.match(lx.CHALLENGE)) > 0
    return _flag(challenged & ((c.columns["self_defence"] > 0) | c.match(lx.JUSTIFICATION)))


@feature("pressure", "confrontation", "controls_pressures", flag=True)
def pressure(c: Context) -> np.ndarray:
    """1 if the turn pressures the listener ("just tell me", "give me", "stop asking", "you need to")."""
    return _flag(c.match(lx.PRESSURE))


@feature("imperative_demand", "confrontation", "controls_pressures", flag=True)
def imperative_demand(c: Context) -> np.ndarray:
    """1 if a sentence opens with a demand on the listener ("Just sign the form", "Don't psychoanalyse me")."""
    return _flag(c.match(_IMPERATIVE))


# ======================================================================================
# Therapist resolution strategies
# ======================================================================================

@feature("metacommunication", "resolution", ("links_pattern_inside", "invites_exploration", "discloses_experience"),
         THERAPIST, flag=True)
def metacommunication(c: Context) -> np.ndarray:
    """1 if the turn talks about the here-and-now between the two ("between us", "right now", "I notice")."""
    return _flag(c.match(lx.METACOMMUNICATION))


@feature("acknowledges_contribution", "resolution", "acknowledges_contribution", THERAPIST, flag=True)
def acknowledges_contribution(c: Context) -> np.ndarray:
    """1 if the speaker owns a part in the trouble ("I may have", "my mistake", "that's on me")."""
    return _flag(c.match(lx.ACKNOWLEDGES))


@feature("discloses_experience", "resolution", "discloses_experience", THERAPIST, flag=True)
def discloses_experience(c: Context) -> np.ndarray:
    """1 if the speaker discloses their own inner state ("I find myself", "I feel stuck"; not "I feel you're...")."""
    return _flag(c.match(lx.DISCLOSURE))


@feature("invites_exploration", "resolution", "invites_exploration", THERAPIST, flag=True)
def invites_exploration(c: Context) -> np.ndarray:
    """1 if the turn invites talk about the relationship or therapy ("what's it like talking about this with me")."""
    return _flag(c.match(lx.INVITATION))


@feature("validation", "resolution", "validates_defense", THERAPIST, flag=True)
def validation(c: Context) -> np.ndarray:
    """1 if the turn validates a reaction as understandable ("that makes sense", "of course you'd")."""
    return _flag(c.match(lx.VALIDATION))


@feature("rationale", "resolution", "illustrates_task_rationale", THERAPIST, flag=True)
def rationale(c: Context) -> np.ndarray:
    """1 if the turn explains why a task is done ("the reason we", "the idea is", "this helps")."""
    return _flag(c.match(lx.RATIONALE))


@feature("pattern_language", "resolution", ("links_pattern_outside", "links_pattern_inside"), THERAPIST, flag=True)
def pattern_language(c: Context) -> np.ndarray:
    """1 if the turn names a recurring pattern ("the same thing happens", "similar to", "pattern")."""
    return _flag(c.match(lx.PATTERN))


@feature("links_outside", "resolution", "links_pattern_outside", THERAPIST, needs=("pattern_language",), flag=True)
def links_outside(c: Context) -> np.ndarray:
    """1 if pattern language comes with a relationship outside therapy ("like with your manager")."""
    return _flag((c.columns["pattern_language"] > 0) & c.match(lx.OUTSIDE_RELATIONS))


@feature("links_inside", "resolution", "links_pattern_inside", THERAPIST,
         needs=("pattern_language", "metacommunication"), flag=True)
def links_inside(c: Context) -> np.ndarray:
    """1 if pattern language comes with the here-and-now ("this seems to happen between us")."""
    here = c.match(lx.INSIDE_RELATIONS) | (c.columns["metacommunication"] > 0)
    return _flag((c.columns["pattern_language"] > 0) & here)


@feature("changes_task", "resolution", "changes_task_goal", THERAPIST, flag=True)
def changes_task(c: Context) -> np.ndarray:
    """1 if the turn changes the task ("let's try something different", "put that aside", "we don't have to")."""
    return _flag(c.match(lx.CHANGES_TASK))


@feature("clarifies", "resolution", "clarifies_misunderstanding", THERAPIST, flag=True)
def clarifies(c: Context) -> np.ndarray:
    """1 if the turn clears up what the speaker meant ("what I meant was", "I didn't mean")."""
    return _flag(c.match(lx.CLARIFIES))


@feature("redirects", "resolution", "redirects", THERAPIST, flag=True)
def redirects(c: Context) -> np.ndarray:
    """1 if the turn steers back to the focus ("let's come back to", "going back to", "before we move on")."""
    return _flag(c.match(lx.REDIRECTS))


# ======================================================================================
# Dynamics
# ======================================================================================

@feature("len_ratio_prev", "dynamics", roles=BOTH)
def len_ratio_prev(c: Context) -> np.ndarray:
    """log2((words + 1) / (previous turn's words + 1)), clipped to [-6, 6]; 0 for a first turn."""
    previous = c.words[np.maximum(c.prev, 0)]
    ratio = np.log2((c.words + 1.0) / (previous + 1.0))
    ratio[c.prev < 0] = 0.0
    return np.clip(ratio, -6.0, 6.0)


def _gaps(c: Context) -> tuple[np.ndarray, np.ndarray]:
    starts = np.array([u.start if u.start is not None else np.nan for u in c.utterances], dtype=np.float64)
    ends = np.array([u.end if u.end is not None else np.nan for u in c.utterances], dtype=np.float64)
    previous_end = ends[np.maximum(c.prev, 0)]
    gap = starts - previous_end
    known = (c.prev >= 0) & np.isfinite(gap)
    return np.where(known, gap, 0.0), known


@feature("latency_s", "dynamics", roles=BOTH)
def latency_s(c: Context) -> np.ndarray:
    """Seconds from the previous turn's end to this turn's start (< 0: overlap), clipped to [-30, 60]; 0 untimed."""
    gap, _ = _gaps(c)
    return np.clip(gap, -30.0, 60.0)


@feature("overlap", "dynamics", roles=BOTH, flag=True)
def overlap(c: Context) -> np.ndarray:
    """1 if the turn starts before the previous turn ended."""
    gap, known = _gaps(c)
    return _flag(known & (gap < 0))


@feature("has_times", "dynamics", roles=BOTH, flag=True)
def has_times(c: Context) -> np.ndarray:
    """1 if this turn's start and the previous turn's end are known (latency_s and overlap are meaningful)."""
    return _flag(_gaps(c)[1])


@feature("vader_compound", "dynamics", roles=BOTH)
def vader_compound(c: Context) -> np.ndarray:
    """VADER compound sentiment in [-1, 1]."""
    return c.sentiment[:, 0]


@feature("vader_pos", "dynamics", roles=BOTH)
def vader_pos(c: Context) -> np.ndarray:
    """VADER positive share in [0, 1]."""
    return c.sentiment[:, 1]


@feature("vader_neg", "dynamics", roles=BOTH)
def vader_neg(c: Context) -> np.ndarray:
    """VADER negative share in [0, 1]."""
    return c.sentiment[:, 2]


@feature("pron_i_rate", "dynamics", roles=BOTH)
def pron_i_rate(c: Context) -> np.ndarray:
    """I/me/my/mine/myself per word."""
    return c.token_rate("first_singular")


@feature("pron_you_rate", "dynamics", roles=BOTH)
def pron_you_rate(c: Context) -> np.ndarray:
    """you/your/yours/yourself per word."""
    return c.token_rate("second")


@feature("pron_we_rate", "dynamics", roles=BOTH)
def pron_we_rate(c: Context) -> np.ndarray:
    """we/us/our/ours/ourselves per word."""
    return c.token_rate("first_plural")


@feature("question", "dynamics", roles=BOTH, flag=True)
def question(c: Context) -> np.ndarray:
    """1 if the turn asks a question (a sentence ending in "?")."""
    return _flag(c.question_sentences > 0)


@feature("question_rate", "dynamics", roles=BOTH)
def question_rate(c: Context) -> np.ndarray:
    """Share of the turn's sentences that are questions."""
    return c.question_sentences / np.maximum(c.sentences, 1.0)


@feature("open_question", "dynamics", roles=BOTH, flag=True)
def open_question(c: Context) -> np.ndarray:
    """1 if the turn ends on an open question or invitation (and 0 for a closed one: "What day works?")."""
    return _flag(c.prompt_type == OPEN)


@feature("repeat_share_prev", "dynamics", roles=BOTH)
def repeat_share_prev(c: Context) -> np.ndarray:
    """Share of this turn's content-word stems found in the prev other turn (client echoing; therapist reflecting)."""
    return c.overlap_prev_other[1]


@feature("position", "dynamics", roles=BOTH)
def position(c: Context) -> np.ndarray:
    """Place of the turn in its transcript: 0 first, 1 last."""
    return c.position


# Client-cue flags whose sum on the prev other turn says "a rupture marker was just voiced".
RUPTURE_CUES = (
    "short_after_open_question", "denial", "deference", "topic_change_marker", "affect_split", "self_criticism",
    "hopelessness", "you_negative_eval", "rejection_phrase", "opens_no_after_intervention", "activity_complaint",
    "frame_complaint", "progress_complaint", "self_defence", "pressure",
)


@feature("prev_rupture_cues", "dynamics", roles=THERAPIST, needs=RUPTURE_CUES)
def prev_rupture_cues(c: Context) -> np.ndarray:
    """How many client rupture-cue flags fired on the prev other turn (what a resolution move answers)."""
    total = np.sum([c.columns[name] for name in RUPTURE_CUES], axis=0)
    return c.at_prev_other(total)


FEATURES: list[FeatureSpec] = [spec for spec, _ in REGISTRY]
# 0/1 flags (declared with `flag=True`): the cue flags that become labeling functions and lead the evidence.
FLAGS: frozenset[str] = frozenset(spec.name for spec in FEATURES if spec.flag)
