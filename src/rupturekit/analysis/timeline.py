"""The episode timeline: one self-contained HTML page (Jinja2, inline CSS and SVG, nothing to
fetch), a strip per session with one cell per turn, markers and resolution moves as ticks, and
the episodes drawn as spans over the strip; a table of the episodes under each strip.

The page carries no utterance text (ids, roles, labels and times only), so it can be shared
where the transcripts cannot. Its colours and note follow the agreement report's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, select_autoescape

from rupturekit.agree.plots import FAMILY_COLOURS
from rupturekit.analysis.episodes import Episode, EpisodeRule
from rupturekit.analysis.events import Source, Turn
from rupturekit.analysis.page import BASE_STYLE

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


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ base_style }}
.note{color:#666;font-size:.85rem}svg{width:100%;height:auto;display:block}
.key span{display:inline-block;margin-right:1rem;font-size:.82rem}
.sw{display:inline-block;width:.9rem;height:.7rem;margin-right:.3rem;vertical-align:middle}
</style></head><body>
<h1>{{ title }}</h1>
<p class="note"><strong>Research tool, not a clinical instrument.</strong> Episodes are rupturekit's
operationalisation (not 3RS's own): {{ rule }}. Labels from {{ source }}. No utterance text is shown.</p>
<p class="key">{% for name, colour in key %}<span><span class="sw" style="background:{{ colour }}"></span>{{ name }}</span>{% endfor %}</p>
<p>{{ sessions|length }} session(s), {{ n_episodes }} episode(s):
{% for outcome, n in totals %}{{ n }} {{ outcome|replace('_', ' ') }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% for s in sessions %}
<section id="s-{{ s.id }}"><h2>session {{ s.id }}</h2>
<p class="note">{{ s.n_turns }} turns{% if s.duration %}, {{ s.duration }}{% endif %}; {{ s.episodes|length }} episode(s)</p>
<svg viewBox="0 0 {{ width }} 78" role="img" aria-label="timeline of session {{ s.id }}">
{% for e in s.episodes %}<rect x="{{ e.x }}" y="2" width="{{ e.w }}" height="28" fill="{{ e.colour }}" fill-opacity=".28" stroke="{{ e.colour }}"><title>{{ e.title }}</title></rect>
<text x="{{ e.x + 2 }}" y="13" font-size="9" fill="#333">{{ e.label }}</text>
{% endfor %}
{% for c in s.cells %}<rect x="{{ c.x }}" y="{{ cell_y }}" width="{{ c.w }}" height="{{ cell_h }}" fill="{{ c.fill }}"><title>{{ c.title }}</title></rect>
{% endfor %}
{% for m in s.ticks %}<rect x="{{ m.x }}" y="{{ m.y }}" width="{{ m.w }}" height="10" fill="{{ m.colour }}"><title>{{ m.title }}</title></rect>
{% endfor %}
<text x="0" y="76" font-size="9" fill="#666">turn 0</text>
<text x="{{ width }}" y="76" font-size="9" fill="#666" text-anchor="end">turn {{ s.n_turns - 1 }}</text>
</svg>
{% if s.episodes %}<table><thead><tr><th>episode</th><th>turns (utterance ids)</th><th>time</th><th>markers</th>
<th>resolution moves</th><th class="n">turns to first repair</th><th>ended by</th><th>outcome</th></tr></thead><tbody>
{% for e in s.episodes %}<tr><td>{{ e.id }}</td><td>{{ e.turns }}</td><td>{{ e.time }}</td><td>{{ e.markers }}</td>
<td>{{ e.moves }}</td><td class="n">{{ e.first }}</td><td>{{ e.ended_by }}</td><td>{{ e.outcome }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p class="note">No rupture marker in this session.</p>{% endif %}
</section>
{% endfor %}
</body></html>
"""  # noqa: E501 (the template's lines)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def _session(view: SessionView) -> dict:
    n = max(len(view.turns), 1)
    step = WIDTH / n
    cells, ticks = [], []
    for t in view.turns:
        x = t.index * step
        labels = [m.label + (f" (guess {m.subtype})" if m.uncertain and m.subtype else "") for m in t.markers]
        title = f"turn {t.index} (utterance {t.utterance_id}), {t.role}" + (f", {_clock(t.time)}" if t.time else "")
        if labels or t.moves:
            title += ": " + ", ".join([*labels, *t.moves])
        cells.append({"x": round(x, 2), "w": round(max(step - 0.3, 0.4), 2),
                      "fill": ROLE_COLOURS.get(t.role, "#e3e3e3"), "title": title})
        for m in t.markers:
            ticks.append({"x": round(x, 2), "w": round(max(step, 1.5), 2), "y": CELL_Y - 12,
                          "colour": FAMILY_COLOURS.get(m.family, "#7f7f7f"), "title": title})
        if t.moves:
            ticks.append({"x": round(x, 2), "w": round(max(step, 1.5), 2), "y": CELL_Y + CELL_H + 2,
                          "colour": FAMILY_COLOURS["resolution"], "title": title})
    episodes = []
    for e in view.episodes:
        x = e.start_index * step
        moves = ", ".join(f"{m.split('.', 1)[-1]} ({_kind(m)})" for m in e.strategies) or "none"
        markers = ", ".join(s.split(".", 1)[-1] + (" (guess)" if s in e.uncertain_subtypes else "")
                            for s in e.subtypes) or ", ".join(e.families)
        time = f"{_clock(e.start_time)}–{_clock(e.end_time)}" if e.start_time is not None else ""
        episodes.append({
            "x": round(x, 2), "w": round(max((e.end_index - e.start_index + 1) * step, 2), 2),
            "colour": OUTCOME_COLOURS[e.outcome], "label": f"e{e.episode}",
            "title": f"{e.episode_id}: turns {e.start_index}-{e.end_index}, {e.outcome.replace('_', ' ')}; "
                     f"markers {markers}; moves {moves}",
            "id": e.episode_id, "turns": f"{e.start_index}–{e.end_index} ({e.start_utterance_id}–{e.end_utterance_id})",
            "time": time, "markers": markers, "moves": moves,
            "first": "" if e.turns_to_first_repair is None else e.turns_to_first_repair,
            "ended_by": e.ended_by.replace("_", " "), "outcome": e.outcome.replace("_", " ")})
    times = [t.time for t in view.turns if t.time is not None]
    duration = f"{_clock(min(times))}–{_clock(max(times))}" if times else ""
    return {"id": view.transcript_id, "n_turns": len(view.turns), "cells": cells, "ticks": ticks,
            "episodes": episodes, "duration": duration}


def _kind(label: str) -> str:
    from rupturekit.analysis.events import strategy_kind

    return strategy_kind(label)


def timeline_html(sessions: Sequence[SessionView], rule: EpisodeRule, source: Source,
                  title: str = "rupturekit rupture-repair episodes") -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    episodes = [e for s in sessions for e in s.episodes]
    totals = [(o, sum(e.outcome == o for e in episodes)) for o in OUTCOME_COLOURS]
    key = [("client turn", ROLE_COLOURS["client"]), ("therapist turn", ROLE_COLOURS["therapist"]),
           ("withdrawal marker", FAMILY_COLOURS["withdrawal"]),
           ("confrontation marker", FAMILY_COLOURS["confrontation"]),
           ("resolution move", FAMILY_COLOURS["resolution"]),
           *((f"episode: {o.replace('_', ' ')}", c) for o, c in OUTCOME_COLOURS.items())]
    return env.from_string(_TEMPLATE).render(base_style=BASE_STYLE,
        title=title, rule=rule.describe(), source=str(source), key=key, totals=totals, n_episodes=len(episodes),
        sessions=[_session(s) for s in sessions], width=WIDTH, cell_y=CELL_Y, cell_h=CELL_H)
