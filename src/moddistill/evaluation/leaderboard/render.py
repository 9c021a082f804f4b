"""The leaderboard as files: the markdown a person reads (one table per case file, then the recipes over seeds)
and the CSVs a script reads."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from moddistill.data.records import atomic_path
from moddistill.evaluation.leaderboard.collect import OK, recipe_rows, reference_baseline
from moddistill.evaluation.leaderboard.statistics import CONFIDENCE

HEAD_COLUMNS = ["run", "status", "kind", "model", "cases", "n", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high",
                "vs_baseline", "vs_baseline_ci_low", "vs_baseline_ci_high", "micro_f1", "decision_accuracy",
                "lookalike_false_reject", "inv_consistency", "dir_passed", "brier", "ece"]


TAIL_COLUMNS = ["parameters", "train_samples_per_s", "listings_per_s", "collapsed", "recipe", "seed",
                "vs_seed_baseline", "vs_seed_baseline_ci_low", "vs_seed_baseline_ci_high", "seed_baseline",
                "seed_baseline_macro_f1"]


RECIPE_COLUMNS = ["cases", "recipe", "label", "kind", "model", "seeds", "macro_f1_mean", "macro_f1_std", "macro_f1_min",
                  "macro_f1_max", "vs_seed_baseline_mean", "seeds_above_baseline", "baseline_macro_f1_mean",
                  "decision_accuracy_mean", "lookalike_false_reject_mean", "lookalike_false_reject_min",
                  "lookalike_false_reject_max", "inv_consistency_mean", "runs"]


def columns(rows: list[dict]) -> list[str]:
    """The csv columns: the fixed ones, with one ``f1_<language>`` per language any row has, in order."""
    langs = sorted({k for r in rows for k in r if k.startswith("f1_")})
    return HEAD_COLUMNS + langs + TAIL_COLUMNS


def leaderboard_markdown(rows: list[dict], *, root: str | Path = "", bootstrap: int = 1000, seed: int = 0,
                         exclude: Sequence[str] = ()) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == OK:
            groups[r["cases"]].append(r)
    others = [r for r in rows if r["status"] != OK]
    lines = [f"# Leaderboard{f': {root}' if root else ''}", "",
             f"Every evaluation found, one table per policy-case file, best macro-F1 first; runs without an "
             f"evaluation follow each table. macro-F1 [low, high] is a bootstrap {CONFIDENCE:.0%} percentile "
             f"interval over cases ({bootstrap} resamples of the cases, seed {seed}): a difference much smaller "
             f"than the intervals are wide (0.01, say) is not one these cases can show, so do not over-read it. "
             f"vs baseline is a run's macro-F1 minus the best baseline's on the same cases, with a paired bootstrap "
             f"interval (both scored on the same resamples): an interval entirely above 0 is a win these cases "
             f"show, one that straddles 0 is a tie."]
    if exclude:
        lines += ["", f"Not searched (`exclude`): {', '.join(f'`{p}`' for p in exclude)}."]
    if not groups:
        lines += ["", "No evaluations found (python scripts/evaluate.py checkpoint=... writes them)."]
        if others:
            lines += ["", *_table(others, [])]
    for stem, group in groups.items():
        langs = sorted({k for r in group for k in r if k.startswith("f1_")})
        lines += ["", f"## {stem} ({', '.join(sorted({str(r['n']) for r in group}))} cases)", ""]
        reference = reference_baseline([r for r in group if r.get("vs_baseline") is not None])
        if reference:
            lines += [f"vs baseline: against `{reference['run']}`.", ""]
        recipes = [r for r in recipe_rows(rows) if r["cases"] == stem]
        if recipes:
            lines += ["### By recipe, over seeds", "",
                      "Runs of one recipe (the same config but for the seed) together: mean ± std [min, max] of "
                      "macro-F1 over their seeds; vs same-seed baseline is the mean of each seed's difference from "
                      "the baseline trained on that seed's rows, with how many of those paired intervals lie above "
                      "0. One seed is one draw: compare recipes by these rows.", "", *_recipe_table(recipes), "",
                      "### Every run", ""]
        lines += _table(group + others, langs)
    return "\n".join(lines) + "\n"


def write_leaderboard(rows: list[dict], markdown: str, output: str | Path) -> tuple[Path, Path]:
    """``<output>.csv`` (every row, every column), ``<output>_recipes.csv`` (one row per recipe over its seeds)
    and ``<output>.md``."""
    csv_path, md_path = Path(f"{output}.csv"), Path(f"{output}.md")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(csv_path, rows, columns(rows))
    _write_csv(Path(f"{output}_recipes.csv"), recipe_rows(rows), RECIPE_COLUMNS)
    md_path.write_text(markdown, encoding="utf-8")
    return csv_path, md_path


def _write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols)
        writer.writeheader()
        for r in rows:
            writer.writerow({c: _csv_value(r.get(c)) for c in cols})


def _table(rows: list[dict], langs: list[str]) -> list[str]:
    head = ["run", "kind", "model", "n", f"macro-F1 [{CONFIDENCE:.0%} CI]", "vs baseline [paired CI]", "micro-F1", "decision acc.",
            "look-alikes rejected", "inv consistent", "dir passed", "Brier", "ECE",
            *(f"F1 {lang[3:]}" for lang in langs), "parameters", "train samples/s", "listings/s", "collapsed", "status"]
    align = ["---"] * 3 + ["---:"] * (len(head) - 5) + ["---"] * 2  # text left, figures right
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        cells = [r["run"], r.get("kind"), r.get("model"), r.get("n"), _ci_cell(r), _difference_cell(r), *(
            _fmt(r.get(c)) for c in ("micro_f1", "decision_accuracy", "lookalike_false_reject", "inv_consistency",
                                     "dir_passed", "brier", "ece", *langs)),
            _count(r.get("parameters")), _fmt(r.get("train_samples_per_s"), 1), _fmt(r.get("listings_per_s"), 1),
            {True: "**yes**", False: "no"}.get(r.get("collapsed"), ""), r["status"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _recipe_table(recipes: list[dict]) -> list[str]:
    head = ["recipe (runs)", "kind", "model", "seeds", "macro-F1 mean ± std [min, max]", "vs same-seed baseline",
            "its baselines' mean", "decision acc.", "look-alikes rejected [min, max]", "inv consistent", "id"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 7 + ["---"]) + "|"]
    for r in recipes:
        diff = "" if r["vs_seed_baseline_mean"] is None else f"{r['vs_seed_baseline_mean']:+.3f}"
        if diff and r["seeds_above_baseline"]:
            diff += f" ({r['seeds_above_baseline']} above 0)"
        lookalike = _fmt(r["lookalike_false_reject_mean"])
        if lookalike and r["seeds"] > 1:
            lookalike += f" [{r['lookalike_false_reject_min']:.3f}, {r['lookalike_false_reject_max']:.3f}]"
        cells = [r["label"], r["kind"], r["model"], r["seeds"],
                 f"**{r['macro_f1_mean']:.3f}** ± {r['macro_f1_std']:.3f} [{r['macro_f1_min']:.3f}, "
                 f"{r['macro_f1_max']:.3f}]", diff, _fmt(r["baseline_macro_f1_mean"]),
                 _fmt(r["decision_accuracy_mean"]), lookalike, _fmt(r["inv_consistency_mean"]), r["recipe"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _ci_cell(r: dict) -> str:
    if r.get("macro_f1") is None:
        return ""
    if r.get("macro_f1_ci_low") is None:
        return f"**{r['macro_f1']:.3f}**"
    return f"**{r['macro_f1']:.3f}** [{r['macro_f1_ci_low']:.3f}, {r['macro_f1_ci_high']:.3f}]"


def _difference_cell(r: dict) -> str:
    if r.get("vs_baseline") is None:
        return ""
    cell = f"{r['vs_baseline']:+.3f}"
    if r.get("vs_baseline_ci_low") is not None and r["vs_baseline"] != 0:
        cell += f" [{r['vs_baseline_ci_low']:+.3f}, {r['vs_baseline_ci_high']:+.3f}]"
    return cell


def _fmt(x, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _count(x) -> str:
    if x is None:
        return ""
    return f"{x / 1e6:.1f}M" if x >= 1e6 else f"{int(x):,}"


def _cell(x) -> str:
    text = "" if x is None else str(x)
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= 120 else text[:117] + "..."


def _csv_value(x):
    if x is None:
        return ""
    return round(x, 4) if isinstance(x, float) else x
