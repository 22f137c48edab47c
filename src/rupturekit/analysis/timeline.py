"""The episode timeline (`templates/episodes_timeline.html.j2`): one self-contained HTML page
(Jinja2, inline CSS and SVG, nothing to fetch), a strip per session with one cell per turn,
markers and resolution moves as ticks, and the episodes drawn as spans over the strip; a table
of the episodes under each strip.

The page carries no utterance text (ids, roles, labels and times only), so it can be shared
where the transcripts cannot. Its colours and note follow the agreement report's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rupturekit.agree.plots import FAMILY_COLOURS
from rupturekit.analysis.episodes import Episode, EpisodeRule
from rupturekit.analysis.events import Source, Turn
from rupturekit.templating import render

__all__ = ["OUTCOME_COLOURS", "SessionView", "timeline_html"]

OUTCOME_COLOURS = {"resolved": "#3a8f5c", "partly_resolved": "#d9a22b", "unresolved": "#c23b3b"}
ROLE_COLOURS = {"client": "#ead7c7", "therapist": "#cfe0f3"}
WIDTH = 1000  # SVG user units; the SVG scales to the page width
CELL_Y, CELL_H = 34, 16


@dataclass
class SessionView:
    transcript_id: str
    turns: list[Turn]
    episodes: list[Episode]


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class TurnCell:
    x: float
    w: float
    fill: str  # the speaker role's colour
    title: str  # shown on hover


@dataclass(frozen=True)
class Tick:
    """A marker (above the strip) or a resolution move (below it)."""

    x: float
    w: float
    y: int
    colour: str
    title: str


@dataclass(frozen=True)
class EpisodeSpan:
    """An episode: its span over the strip, and its row of the table."""

    x: float
    w: float
    colour: str
    label: str
    title: str
    episode_id: str
    turns: str
    time: str
    markers: str
    moves: str
    first: int | str  # turns to the first repair; "" without one
    ended_by: str
    outcome: str


@dataclass(frozen=True)
class SessionStrip:
    transcript_id: str
    n_turns: int
    cells: list[TurnCell]
    ticks: list[Tick]
    episodes: list[EpisodeSpan]
    duration: str


def _turn_marks(view: SessionView, step: float) -> tuple[list[TurnCell], list[Tick]]:
    cells, ticks = [], []
    cell_w, tick_w = round(max(step - 0.3, 0.4), 2), round(max(step, 1.5), 2)
    for t in view.turns:
        x = round(t.index * step, 2)
        labels = [m.label + (f" (guess {m.subtype})" if m.uncertain and m.subtype else "") for m in t.markers]
        title = f"turn {t.index} (utterance {t.utterance_id}), {t.role}" + (f", {_clock(t.time)}" if t.time else "")
        if labels or t.moves:
            title += ": " + ", ".join([*labels, *t.moves])
        cells.append(TurnCell(x, cell_w, ROLE_COLOURS.get(t.role, "#e3e3e3"), title))
        for m in t.markers:
            ticks.append(Tick(x, tick_w, CELL_Y - 12, FAMILY_COLOURS.get(m.family, "#7f7f7f"), title))
        if t.moves:
            ticks.append(Tick(x, tick_w, CELL_Y + CELL_H + 2, FAMILY_COLOURS["resolution"], title))
    return cells, ticks


def _span(e: Episode, step: float) -> EpisodeSpan:
    moves = ", ".join(f"{m.split('.', 1)[-1]} ({_kind(m)})" for m in e.strategies) or "none"
    markers = ", ".join(s.split(".", 1)[-1] + (" (guess)" if s in e.uncertain_subtypes else "")
                        for s in e.subtypes) or ", ".join(e.families)
    time = f"{_clock(e.start_time)}–{_clock(e.end_time)}" if e.start_time is not None else ""
    return EpisodeSpan(
        x=round(e.start_index * step, 2), w=round(max((e.end_index - e.start_index + 1) * step, 2), 2),
        colour=OUTCOME_COLOURS[e.outcome], label=f"e{e.episode}",
        title=f"{e.episode_id}: turns {e.start_index}-{e.end_index}, {e.outcome.replace('_', ' ')}; "
              f"markers {markers}; moves {moves}",
        episode_id=e.episode_id,
        turns=f"{e.start_index}–{e.end_index} ({e.start_utterance_id}–{e.end_utterance_id})",
        time=time, markers=markers, moves=moves,
        first="" if e.turns_to_first_repair is None else e.turns_to_first_repair,
        ended_by=e.ended_by.replace("_", " "), outcome=e.outcome.replace("_", " "))


def _session(view: SessionView) -> SessionStrip:
    step = WIDTH / max(len(view.turns), 1)
    cells, ticks = _turn_marks(view, step)
    times = [t.time for t in view.turns if t.time is not None]
    duration = f"{_clock(min(times))}–{_clock(max(times))}" if times else ""
    return SessionStrip(view.transcript_id, len(view.turns), cells, ticks, [_span(e, step) for e in view.episodes],
                        duration)


def _kind(label: str) -> str:
    from rupturekit.analysis.events import strategy_kind

    return strategy_kind(label)


def timeline_html(sessions: Sequence[SessionView], rule: EpisodeRule, source: Source,
                  title: str = "rupturekit rupture-repair episodes") -> str:
    episodes = [e for s in sessions for e in s.episodes]
    totals = [(o, sum(e.outcome == o for e in episodes)) for o in OUTCOME_COLOURS]
    key = [("client turn", ROLE_COLOURS["client"]), ("therapist turn", ROLE_COLOURS["therapist"]),
           ("withdrawal marker", FAMILY_COLOURS["withdrawal"]),
           ("confrontation marker", FAMILY_COLOURS["confrontation"]),
           ("resolution move", FAMILY_COLOURS["resolution"]),
           *((f"episode: {o.replace('_', ' ')}", c) for o, c in OUTCOME_COLOURS.items())]
    return render("episodes_timeline.html.j2", title=title, rule=rule.describe(), source=str(source), key=key,
                  totals=totals, n_episodes=len(episodes), sessions=[_session(s) for s in sessions], width=WIDTH,
                  cell_y=CELL_Y, cell_h=CELL_H)
