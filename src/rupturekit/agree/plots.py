"""Figures of the agreement report: matplotlib (Agg canvas, no pyplot state), PNG as data: URIs.

Every function returns ``"data:image/png;base64,..."`` to put in an ``<img src=...>``, so the
report stays one self-contained file. matplotlib is imported on first use; `available()` says
whether it is installed (the report then says how to get the figures instead of failing).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rupturekit.agree.results import LabelMetrics, TimelineSession

__all__ = [
    "FAMILY_COLOURS",
    "agreement_strip",
    "available",
    "colour_for",
    "confusion_heatmap",
    "count_scatter",
    "data_uri",
    "f1_bars",
    "new_figure",
    "png_bytes",
    "short_label",
    "timeline",
]

FAMILY_COLOURS = {"withdrawal": "#d9822b", "confrontation": "#c23b3b", "resolution": "#3a8f5c"}
# matplotlib's tab20, strong shades first, so that up to 20 labels get distinct colours
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5"]
_DPI = 100


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot state), at the reports' resolution."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes, byte-identical between runs (no software metadata)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _uri(fig) -> str:
    return data_uri(png_bytes(fig))


def colour_for(category: str, order: Sequence[str] = ()) -> str:
    """Family colour for 3RS families (by the part before the dot), a palette colour otherwise."""
    family = category.split(".", 1)[0]
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    position = list(order).index(category) if category in order else sum(map(ord, category))
    return _PALETTE[position % len(_PALETTE)]


def short_label(label: str, prefix: str | None) -> str:
    """`label` without "`prefix`." (AnnoMI style dimension names), to keep axis labels short."""
    return label[len(prefix) + 1:] if prefix and label.startswith(prefix + ".") else label


def f1_bars(title: str, rows: Sequence[LabelMetrics], prefix: str | None = None) -> str | None:
    """Horizontal F1 bars with the bootstrap CI as error bars, support written beside each bar."""
    rows = [r for r in rows if _finite(r.f1)]
    if not rows:
        return None
    fig = new_figure(7.5, 0.42 * len(rows) + 1.1)
    ax = fig.add_subplot()
    names = [short_label(r.label, prefix) for r in rows]
    y = list(range(len(rows)))[::-1]
    f1 = [float(r.f1) for r in rows]
    lo = [f - (r.f1_ci[0] if r.f1_ci and _finite(r.f1_ci[0]) else f) for f, r in zip(f1, rows, strict=True)]
    hi = [(r.f1_ci[1] if r.f1_ci and _finite(r.f1_ci[1]) else f) - f for f, r in zip(f1, rows, strict=True)]
    colours = [colour_for(r.label) if "." in r.label or r.label in FAMILY_COLOURS else "#1f5fa8" for r in rows]
    ax.barh(y, f1, color=colours, alpha=0.85, height=0.6)
    ax.errorbar(f1, y, xerr=[[max(v, 0) for v in lo], [max(v, 0) for v in hi]], fmt="none", ecolor="#222",
                capsize=3, linewidth=1)
    for yi, r in zip(y, rows, strict=True):
        ax.text(1.02, yi, f"n={r.support}", va="center", fontsize=8, color="#555",
                transform=ax.get_yaxis_transform())
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (bars: 95% bootstrap CI over transcripts)", fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=8)
    return _uri(fig)


def confusion_heatmap(title: str, rows: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[float]],
                      prefix: str | None = None, ylabel: str = "reference", xlabel: str = "predicted") -> str:
    """Counts as a heatmap (rows: reference, columns: predicted), each cell annotated."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    size = max(3.2, 0.5 * max(len(rows), len(columns)) + 1.8)
    fig = new_figure(size + 0.8, size)
    ax = fig.add_subplot()
    image = ax.imshow(m, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(columns)), [short_label(c, prefix) for c in columns], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), [short_label(r, prefix) for r in rows], fontsize=7)
    top = m.max() if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > top / 2 else "#222")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
    return _uri(fig)


def agreement_strip(title: str, groups: Sequence[tuple[str, Sequence[float], float | None]],
                    predicted_name: str = "model", prefix: str | None = None) -> str | None:
    """Box + points of each human's leave-one-out kappa per group, the predicted side's kappa marked."""
    import numpy as np

    groups = [(name, [v for v in values if _finite(v)], m) for name, values, m in groups]
    groups = [g for g in groups if g[1] or _finite(g[2])]
    if not groups:
        return None
    fig = new_figure(max(4.0, 0.9 * len(groups) + 2.2), 3.6)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    data = [g[1] if g[1] else [math.nan] for g in groups]
    ax.boxplot(data, positions=range(len(groups)), widths=0.5, showfliers=False,
               medianprops={"color": "#1f5fa8"}, boxprops={"color": "#888"}, whiskerprops={"color": "#888"},
               capprops={"color": "#888"})
    for i, (_, values, _) in enumerate(groups):
        if values:
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=16, color="#555", alpha=0.8, zorder=3,
                       label="human (leave-one-out)" if i == 0 else None)
    marked = False
    for i, (_, _, m) in enumerate(groups):
        if _finite(m):
            ax.scatter([i], [m], marker="D", s=60, color="#c23b3b", zorder=4,
                       label=f"{predicted_name} vs majority" if not marked else None)
            marked = True
    ax.set_xticks(range(len(groups)), [short_label(g[0], prefix) for g in groups],
                  rotation=30 if len(groups) > 3 else 0, ha="right" if len(groups) > 3 else "center", fontsize=8)
    ax.set_ylabel("Cohen's κ against the majority", fontsize=8)
    ax.axhline(0, color="#bbb", linewidth=0.8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _uri(fig)


def timeline(sessions: Sequence[TimelineSession], categories: Sequence[str]) -> str | None:
    """One panel per transcript: predicted above reference, one pair of tracks per dimension.

    Tracks are listed top to bottom; each mark (position, category) is a short vertical tick
    coloured by category.
    """
    from matplotlib.lines import Line2D

    sessions = [s for s in sessions if s.tracks]
    if not sessions:
        return None
    n_tracks = max(len(s.tracks) for s in sessions)
    panel = 0.28 * n_tracks + 0.7
    fig = new_figure(10, panel * len(sessions) + 0.9)
    axes = fig.subplots(len(sessions), 1, squeeze=False)[:, 0]
    used: dict[str, str] = {}
    for ax, session in zip(axes, sessions, strict=True):
        tracks = session.tracks
        for t, track in enumerate(tracks):
            y = len(tracks) - 1 - t
            ax.axhline(y, color="#eee", linewidth=0.8, zorder=0)
            for pos, cat in track.marks:
                colour = colour_for(cat, categories)
                family = cat.split(".", 1)[0]
                used.setdefault(family if family in FAMILY_COLOURS else cat, colour)  # 3RS: one entry per family
                ax.plot([pos, pos], [y - 0.35, y + 0.35], color=colour, linewidth=2.2, solid_capstyle="butt")
        ax.set_yticks(range(len(tracks)), [tr.name for tr in tracks][::-1], fontsize=7)
        ax.set_xlim(-1, max(session.length, 1))
        ax.set_ylim(-0.6, len(tracks) - 0.4)
        ax.set_title(f"transcript {session.id}", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("utterance index", fontsize=8)
    fig.tight_layout()
    handles = [Line2D([0], [0], color=c, linewidth=3) for c in used.values()]
    fig.legend(handles, list(used), fontsize=7, loc="upper center", ncol=min(4, max(1, len(used))),
               bbox_to_anchor=(0.5, 0.0), frameon=False)  # below the panels; savefig's tight bbox keeps it
    return _uri(fig)


def count_scatter(title: str, points: Sequence[tuple[str, Sequence[float], Sequence[float]]],
                  predicted_name: str = "model", prefix: str | None = None, unit: str = "segment") -> str | None:
    """Predicted count (y) against the reference raters' mean count (x) per subject, one colour per label."""
    import numpy as np

    points = [(n, np.asarray(x, float), np.asarray(y, float)) for n, x, y in points]
    points = [(n, x, y) for n, x, y in points if np.isfinite(x).any() and np.isfinite(y).any()]
    if not points:
        return None
    fig = new_figure(5.6, 4.4)
    ax = fig.add_subplot()
    top = 1.0
    order = [n for n, _, _ in points]
    for name, x, y in points:
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=18, alpha=0.7, color=colour_for(name, order), label=short_label(name, prefix))
        top = max(top, float(np.nanmax(x[ok])) if ok.any() else 0, float(np.nanmax(y[ok])) if ok.any() else 0)
    ax.plot([0, top], [0, top], color="#bbb", linewidth=0.8, linestyle="--")
    ax.set_xlabel(f"reference mean count per {unit}", fontsize=8)
    ax.set_ylabel(f"{predicted_name} count per {unit}", fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", ncol=1 if len(points) < 8 else 2)
    return _uri(fig)


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
