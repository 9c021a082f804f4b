"""The threshold rule's record in a run: what each policy got, and the look-alike trade-off as a plot.

``<run>/threshold_tradeoff.png`` shows, for every common floor under the thresholds, the validation macro-F1 and the
share of the validation split's allowed look-alikes rejected, with the cap and the chosen floor marked: how much
macro-F1 a lower look-alike false-reject rate costs on this run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from moddistill.metrics.thresholds import ThresholdChoice, ThresholdRule

log = logging.getLogger(__name__)
TRADEOFF_PLOT = "threshold_tradeoff.png"


def record_threshold_choice(choice: ThresholdChoice, rule: ThresholdRule, run_dir: Path) -> dict:
    """Log the rule's outcome, draw the trade-off plot when the split holds look-alikes, and return the record
    for ``metrics.json`` (``threshold_rule``)."""
    if choice.note:
        log.warning(choice.note)
    if choice.lookalikes:
        fr = choice.lookalike_false_reject
        log.info("thresholds (%s%s): %d validation look-alikes, %.1f%% rejected%s", rule.strategy,
                 f", max_false_reject={rule.max_false_reject}" if rule.max_false_reject is not None else "",
                 choice.lookalikes, 100 * fr, f", floor {choice.floor:.2f}" if choice.floor is not None else "")
        plot_lookalike_tradeoff(choice, rule, Path(run_dir) / TRADEOFF_PLOT)
    return {"strategy": rule.strategy, "max_false_reject": rule.max_false_reject, **choice.to_dict(),
            "plot": TRADEOFF_PLOT if choice.lookalikes else None}


def plot_lookalike_tradeoff(choice: ThresholdChoice, rule: ThresholdRule, path: Path) -> Path:
    from moddistill.plotting import pyplot

    plt = pyplot()
    floors = [c["floor"] for c in choice.curve]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(floors, [c["macro_f1"] for c in choice.curve], label="validation macro-F1", color="tab:blue")
    ax.plot(floors, [c["lookalike_false_reject"] for c in choice.curve], color="tab:red",
            label=f"look-alikes rejected ({choice.lookalikes} in validation)")
    if rule.max_false_reject is not None:
        ax.axhline(rule.max_false_reject, color="tab:red", linestyle=":", label=f"cap {rule.max_false_reject:g}")
    lowest = min(choice.strategy_thresholds.values())
    what = "global threshold" if rule.strategy == "global" else f"lowest {rule.strategy} threshold"
    ax.axvline(lowest, color="grey", linestyle=":", label=f"{what} {lowest:.2f}")
    if choice.floor is not None:
        ax.axvline(choice.floor, color="black", linestyle="--", label=f"chosen floor {choice.floor:.2f}")
    ax.set_xlabel("lowest threshold allowed (every policy's threshold raised to at least this)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Look-alike false rejects against macro-F1 ({rule.strategy} thresholds)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
