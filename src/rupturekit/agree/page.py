"""report.html of an agreement run: `agreement.html.j2` filled from the typed results.

One self-contained page (inline CSS, figures as data: URIs, no external resources) with the
header, summary, per-label F1 with CIs, agreement coefficients, confusion matrices, human-vs-model
agreement, counts (segment / session units), ratings, a session timeline and a table of
disagreements with the utterance text. The figures are drawn here (`rupturekit.agree.plots`);
the template lays out the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rupturekit.agree import plots
from rupturekit.agree.align import PREDICTED
from rupturekit.agree.results import (
    Agreement,
    AgreementResult,
    ClassificationLevel,
    CountSubject,
    IccForm,
    IccTable,
    Level,
    RaterAgreement,
    RaterBlock,
    RatingMetrics,
    finite,
)
from rupturekit.agree.text import ci_text, count_cells, inputs_lines, level_title, num, prefix, skipped_text
from rupturekit.templating import render

__all__ = ["Figure", "LevelView", "render_page"]


@dataclass
class Figure:
    uri: str | None  # None: nothing to plot, or figures left out
    alt: str


@dataclass
class LevelView:
    """One compared (dimension, level) on the page, with the figures drawn for it."""

    name: str
    level: str
    block: Level
    title: str
    # the figures of each section; None where the section has none for this level
    f1: Figure | None = None
    confusion: Figure | None = None
    raters: Figure | None = None
    counts: Figure | None = None

    @property
    def classified(self) -> ClassificationLevel | None:
        """The block where it has classification statistics (a subject compared), else None."""
        return self.block if isinstance(self.block, ClassificationLevel) and self.block.n_compared else None

    @property
    def rater_block(self) -> RaterBlock | None:
        """The rater statistics where there are two or more reference raters."""
        block = self.block
        several = isinstance(block, ClassificationLevel) and block.raters.n_reference_raters >= 2
        return block.raters if several else None  # type: ignore[union-attr]

    @property
    def overall_as_rater(self) -> RaterAgreement | None:
        """A single-label dimension's human agreement, where the predicted side was placed among the humans."""
        raters = self.rater_block
        overall = raters.overall if raters is not None else None
        return overall if overall is not None and overall.model_as_rater is not None else None

    @property
    def per_label_raters(self) -> dict[str, RaterAgreement]:
        raters = self.rater_block
        return (raters.per_label or {}) if raters is not None else {}


def _rating_iccs(r: RatingMetrics) -> list[tuple[str, IccForm | None, IccForm | None]]:
    """ICC(2,1) and ICC(3,1) of the ratings among the reference raters, and among all raters."""
    return [(label, icc.form("ICC2"), icc.form("ICC3"))
            for label, icc in (("reference raters", r.icc_reference), ("all raters", r.icc_all))
            if isinstance(icc, IccTable) and icc.forms]


def _rater_names(r: RatingMetrics, who: str) -> str:
    return ", ".join(who if name == PREDICTED else name for name in r.raters)


def _rater_groups(name: str, block: Level) -> list[tuple[str, list[float], float]]:
    """Per strip of the rater figure: the humans' leave-one-out kappas and the predicted side's kappa."""
    if not isinstance(block, ClassificationLevel) or block.raters.n_reference_raters < 2:
        return []
    entries = [(name, block.raters.overall)] + list((block.raters.per_label or {}).items())
    return [(label, [r.kappa for r in e.model_as_rater.leave_one_out], e.model_as_rater.model_vs_majority.kappa)
            for label, e in entries if e is not None and e.model_as_rater is not None]


def _reference_mean(subject: CountSubject) -> float:
    counts = [v for v in subject.reference.values() if finite(v)]
    return float(np.mean(counts)) if counts else math.nan


def _count_points(block: Level) -> list[tuple[str, list[float], list[float]]]:
    """Per category: the reference raters' mean count (x) and the predicted count (y) of each subject."""
    return [(cat, [_reference_mean(s) for s in c.subjects], [s.predicted for s in c.subjects])
            for cat, c in (block.counts or {}).items()]


def _view(name: str, lvl: str, block: Level, who: str, have_plots: bool, count_unit: bool) -> LevelView:
    title = level_title(name, lvl, block)
    view = LevelView(name, lvl, block, title)
    if view.classified is not None:
        shown = [e for e in view.classified.labels if e.support]
        view.f1 = Figure(plots.f1_bars(title, shown, prefix(name, [e.label for e in shown])) if have_plots else None,
                         f"F1 of {name} ({lvl})")
    conf = block.confusion if isinstance(block, ClassificationLevel) else None
    if conf is not None:
        view.confusion = Figure(plots.confusion_heatmap(title, conf.rows, conf.columns, conf.matrix,
                                                        prefix(name, conf.rows[:-1] or conf.rows))
                                if have_plots else None, f"confusion matrix of {name} ({lvl})")
    groups = _rater_groups(name, block)
    if groups and have_plots:
        view.raters = Figure(plots.agreement_strip(title, groups, who, prefix(name, [g[0] for g in groups])),
                             f"rater agreement of {name} ({lvl})")
    if count_unit and block.counts and have_plots:
        view.counts = Figure(plots.count_scatter(title, _count_points(block), who, prefix(name, list(block.counts)),
                                                 unit=str(block.unit)), f"counts of {name} ({lvl})")
    return view


def _sections(count_unit: bool, ratings: bool) -> list[tuple[str, str]]:
    return [("summary", "Summary"), ("f1", "Per-label F1"), ("coefficients", "Agreement coefficients"),
            ("confusion", "Confusion matrices"), ("raters", "Human raters and the predicted side"),
            *([("counts", "Counts")] if count_unit else []),
            *([("ratings", "Significance ratings")] if ratings else []),
            ("timeline", "Session timeline"), ("disagreements", "Disagreements"), ("method", "Method")]


def _timeline_categories(a: Agreement) -> list[str]:
    """The categories the timeline colours: those of every level with classification statistics."""
    return sorted({c for _, _, block in a.levels() if isinstance(block, ClassificationLevel) for c in block.categories})


def render_page(result: AgreementResult, *, figures: bool = True) -> str:
    """The page's HTML; `figures=False` leaves the figures out (faster)."""
    a = result.agreement
    who = a.predicted.name
    have_plots = figures and plots.available()
    count_unit = not a.inputs.unit.startswith("utterance")
    levels = [_view(name, lvl, block, who, have_plots, count_unit) for name, lvl, block in a.levels()]
    ratings = any(isinstance(v.block, ClassificationLevel) and v.block.ratings for v in levels)
    timeline = Figure(plots.timeline(result.timeline, _timeline_categories(a)) if have_plots else None,
                      "session timeline")
    return render("agreement.html.j2", a=a, who=who, levels=levels, inputs=inputs_lines(a), figures=figures,
                  have_plots=have_plots, count_unit=count_unit, ratings=ratings,
                  sections=_sections(count_unit, ratings), timeline=timeline, n_timeline=len(result.timeline),
                  skipped=skipped_text(a), num=num, ci_text=ci_text, count_cells=count_cells,
                  short=plots.short_label, finite=finite, rating_iccs=_rating_iccs,
                  rater_names=_rater_names)
