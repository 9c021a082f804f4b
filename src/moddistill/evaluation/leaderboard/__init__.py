"""Every evaluation under a checkpoints root in one table per policy-case file: students, baselines and
teachers judged on the same cases, with a bootstrap interval on macro-F1 so a small gap is not over-read,
and each run's macro-F1 difference from the best baseline with a *paired* bootstrap interval (both scored on
the same resampled cases), which tells whether a student beats the baseline far better than two overlapping
intervals can.

Reads only files (numpy, no torch): ``<run>/eval/<cases stem>/metrics.json`` and ``case_scores.jsonl``
written by ``evaluation.evaluate``, and a run's own ``metrics.json`` (model, kind, parameters, training
throughput, collapse check), ``config.yaml`` and ``error.json`` (a crashed sweep run).

A training run is one draw: another seed (split and initialisation) or another CPU gives another figure. So runs
of one *recipe* (the same resolved config but for the seed and where it was written) are also summarised in one
row: the mean, spread and number of seeds, and each seed's difference from the baseline trained on that seed's rows
(the same data, seed and threshold rule), paired on the cases.

The package in three steps: ``collect.py`` (runs and evaluations on disk -> rows; recipes over seeds),
``statistics.py`` (bootstrap intervals, paired differences), ``render.py`` (markdown and CSV).
"""

from moddistill.evaluation.leaderboard.collect import LeaderboardError, collect_leaderboard, recipe_rows
from moddistill.evaluation.leaderboard.render import leaderboard_markdown, write_leaderboard
from moddistill.evaluation.leaderboard.statistics import bootstrap_macro_f1, paired_macro_f1_difference

__all__ = ["LeaderboardError", "bootstrap_macro_f1", "collect_leaderboard", "leaderboard_markdown",
           "paired_macro_f1_difference", "recipe_rows", "write_leaderboard"]
