"""From tags to findings: the analysis layer (the last pipeline stage).

* `episodes`: within-session rupture-repair episodes from tags or codes (rupturekit's rule);
* `ratings`: 3RS-style segment and session tables with *estimated* 1-5 ratings;
* `alliance`: session-by-session alliance ratings and the Stevens, Strauss and Stiles criteria;
* `stats` / `meta`: correlations with CIs, and meta-analysis of correlations;
* `page` / `timeline`: the HTML pages (templates in `rupturekit/templates/`); `table_files`: JSONL and CSV;
* `commands`: the workflows of `rupturekit episodes`, `sessions`, `alliance` and `meta`.

This package may import every earlier stage; no earlier stage imports it.
"""

from rupturekit.analysis.episodes import Episode, EpisodeRule, find_episodes
from rupturekit.analysis.events import Source, Turn, choose_source, turns_of
from rupturekit.analysis.meta import MetaResult, meta_analysis, study_from
from rupturekit.analysis.stats import Correlation, correlate

__all__ = ["Correlation", "Episode", "EpisodeRule", "MetaResult", "Source", "Turn", "choose_source", "correlate",
           "find_episodes", "meta_analysis", "study_from", "turns_of"]
