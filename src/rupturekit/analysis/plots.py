"""Figures of the analysis layer (matplotlib's Agg canvas, no pyplot state): alliance trajectories
with their rupture-repair episodes, forest plots, and scatter plots of a session index against an
outcome. Each returns PNG bytes (written as files, or put into a page as data: URIs)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rupturekit.agree.plots import FAMILY_COLOURS, data_uri, new_figure, png_bytes

__all__ = ["CRITERION_COLOURS", "data_uri", "forest", "scatter", "trajectory"]

CRITERION_COLOURS = {"stevens": "#1f77b4", "strauss": "#9467bd", "stiles": "#d9822b"}


def trajectory(patient: str, sessions: Sequence[int], scores: Sequence[float | None], episodes: Sequence,
               criteria: Sequence[str], label: str = "alliance") -> bytes:
    """Alliance by session (gaps where an assessment is missing) and, under it, one track per
    criterion: each episode a bar from the rupture to the repair session (solid: repaired; hatched
    to the last session: unrepaired), the rupture a downward triangle."""
    fig = new_figure(7.2, 3.6)
    grid = fig.add_gridspec(2, 1, height_ratios=[3, max(1, len(criteria)) * 0.45], hspace=0.08)
    ax, track = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    points = [(s, v) for s, v in zip(sessions, scores, strict=True) if v is not None]
    ax.plot(sessions, [math.nan if v is None else v for v in scores], color="#444", linewidth=1.4, marker="o",
            markersize=4, zorder=2)
    for e in episodes:
        colour = CRITERION_COLOURS.get(e.criterion, "#7f7f7f")
        ax.plot([e.rupture_session], [e.rupture_score], marker="v", color=colour, markersize=9, zorder=3)
        if e.repaired:
            ax.plot([e.repair_session], [e.repair_score], marker="^", color=colour, markersize=8, zorder=3,
                    markerfacecolor="white")
    ax.set_ylabel(label, fontsize=8)
    ax.set_title(f"patient {patient}", fontsize=10, loc="left")
    ax.tick_params(labelsize=7, labelbottom=False)
    last = max(sessions) if sessions else 1
    for row, criterion in enumerate(criteria):
        y = len(criteria) - 1 - row
        colour = CRITERION_COLOURS.get(criterion, "#7f7f7f")
        for e in (e for e in episodes if e.criterion == criterion):
            end = e.repair_session if e.repaired else last
            track.barh(y, max(end - e.rupture_session, 0.25), left=e.rupture_session, height=0.6, color=colour,
                       alpha=0.85 if e.repaired else 0.25, hatch=None if e.repaired else "//", edgecolor=colour)
    track.set_yticks(range(len(criteria)), list(criteria)[::-1], fontsize=7)
    track.set_ylim(-0.6, len(criteria) - 0.4)
    track.set_xlim(ax.get_xlim())
    from matplotlib.ticker import MaxNLocator

    track.xaxis.set_major_locator(MaxNLocator(integer=True))  # sessions are whole numbers
    track.set_xlabel("session", fontsize=8)
    track.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
        track.spines[side].set_visible(False)
    if not points:
        ax.text(0.5, 0.5, "no alliance scores", transform=ax.transAxes, ha="center", fontsize=8)
    return png_bytes(fig)


def forest(names: Sequence[str], r: Sequence[float], low: Sequence[float], high: Sequence[float],
           weights: Sequence[float], pooled: Sequence[tuple[str, float, float, float]], title: str) -> bytes:
    """Studies' r with 95% CIs (squares sized by weight), then the pooled estimates as diamonds."""
    n = len(names) + len(pooled)
    fig = new_figure(7.0, 0.38 * n + 1.3)
    ax = fig.add_subplot()
    top = n - 1
    biggest = max(weights) if weights else 1
    for i, (ri, lo, hi, w) in enumerate(zip(r, low, high, weights, strict=True)):
        y = top - i
        ax.plot([lo, hi], [y, y], color="#333", linewidth=1.1)
        ax.plot([ri], [y], marker="s", color="#333", markersize=4 + 8 * math.sqrt(w / biggest))
        ax.text(1.02, y, f"{ri:.2f} [{lo:.2f}, {hi:.2f}]", transform=ax.get_yaxis_transform(), fontsize=7,
                va="center")
    for j, (_, ri, lo, hi) in enumerate(pooled):
        y = top - len(names) - j
        ax.fill([lo, ri, hi, ri], [y, y + 0.3, y, y - 0.3], color=FAMILY_COLOURS["resolution"], alpha=0.8)
        ax.text(1.02, y, f"{ri:.2f} [{lo:.2f}, {hi:.2f}]", transform=ax.get_yaxis_transform(), fontsize=7,
                va="center")
    ax.axvline(0, color="#999", linewidth=0.8, linestyle="--")
    ax.set_yticks([top - i for i in range(n)], [*names, *(p[0] for p in pooled)], fontsize=7)
    ax.set_xlabel("r (95% CI)", fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return png_bytes(fig)


def scatter(x: Sequence[float], y: Sequence[float], x_label: str, y_label: str, title: str) -> bytes:
    import numpy as np

    fig = new_figure(4.8, 3.6)
    ax = fig.add_subplot()
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    jitter = np.random.default_rng(0).uniform(-0.06, 0.06, ok.sum()) if len(set(ys[ok])) <= 5 else 0
    ax.scatter(xs[ok], ys[ok] + jitter, s=16, alpha=0.7, color="#1f77b4")
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return png_bytes(fig)
