"""The drift report (``drift_report.md``) and its plots: what the people watching the incoming listings read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moddistill.evaluation.report import format_number, format_share
from moddistill.plotting import pyplot

MOVED_BINS = 8  # the bins of each mix that moved most (largest PSI terms), listed in the report
NEW_OR_GONE = 15  # values new in / gone from the current batch named in the report (all are in the JSON)
PLOT_BINS = 12  # the bins of each mix drawn, by largest share in either batch (the rest are in the table)
MARK = {"ok": "ok", "warn": "**warn**", "alert": "**ALERT**"}
MIX_PLOT, FLAG_RATE_PLOT, SCORE_PLOT = "drift_mix.png", "drift_flag_rates.png", "drift_scores.png"


def drift_report(result: dict) -> str:
    ref, cur, s = result["reference"], result["current"], result["settings"]
    counts = {k: sum(c["status"] == k for c in result["checks"]) for k in MARK}
    lines = [
        "# Drift report",
        "",
        f"Reference `{ref['path']}` ({_listings(ref)}) against current `{cur['path']}` ({_listings(cur)}). "
        + (f"Model checks with the export `{result['export']['dir']}` ({result['export']['model']}, "
           f"runtime {result['export']['runtime']})." if result["export"]
           else "No export given: the model checks (flag rates, scores, unsure share, OOV) are left out."),
        "",
        f"**Status: {result['status']}**: {counts['alert']} alert(s), {counts['warn']} warning(s), "
        f"{counts['ok']} check(s) ok.",
        "",
        "| check | measure | value | warn at | alert at | status |",
        "|---|---|---:|---:|---:|---|",
        *[f"| {c['check']} | {c['measure']} | {c['value']:.4f} | {c['warn']:g} | {c['alert']:g} | {MARK[c['status']]} |"
          for c in sorted(result["checks"], key=lambda c: ("alert", "warn", "ok").index(c["status"]))],
        "",
        f"PSI (population stability index) = sum over bins of (current share - reference share) x ln(current share "
        f"/ reference share); an empty bin counts as a share of 0.0001. Below 0.1: no real change, 0.1 to 0.25: "
        f"moderate, above 0.25: major (the usual rule of thumb). In a mix, a value gets its own bin when it holds at "
        f"least {format_share(s['mix']['min_share'])} and {s['mix']['min_count']} of the listings of either batch; "
        f"rarer values share the bin `(other)`. Text length and scores: bins cut at the reference's {s['quantile_bins']}-"
        "quantiles and at its minimum and maximum (a value beyond its range counts as new). \"Sampling alone\" is "
        "the PSI two batches of these sizes from one distribution show on average.",
        "",
        "## Mix",
        "",
        f"![mix]({MIX_PLOT})",
        "",
        "| mix | PSI | sampling alone | bins | values pooled into (other) | new in current | gone from current |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("language", "market", "category"):
        m = result[name]
        lines.append(f"| {name} | {m['psi']:.4f} | {m['sampling_psi']:.4f} | {len(m['bins'])} | "
                     f"{m['pooled_into_other']} | {len(m['new'])} | {len(m['gone'])} |")
    length = result["length"]
    lines += [f"| text length (characters) | {length['psi']:.4f} | {length['sampling_psi']:.4f} | "
              f"{len(length['reference_share'])} | | | |", ""]
    for name in ("language", "market", "category"):
        lines += _moved(name, result[name])
    if result["export"]:
        lines += _model_sections(result)
    return "\n".join(lines)


def _listings(read: dict) -> str:
    return f"{read['listings']:,} listings" + (f", {read['rejected']:,} bad rows left out" if read["rejected"] else "")


def _moved(name: str, m: dict) -> list[str]:
    moved = sorted(m["bins"], key=lambda b: -b["psi"])[:MOVED_BINS]
    lines = [f"### {name.capitalize()}: the bins that moved most", "",
             "| value | reference | current | change | PSI term |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {b['name']} | {format_share(b['reference_share'])} ({b['reference']}) | "
              f"{format_share(b['current_share'])} ({b['current']}) | "
              f"{100 * (b['current_share'] - b['reference_share']):+.1f} pts | {b['psi']:.4f} |" for b in moved]
    for what, values in (("New in current", m["new"]), ("Gone from current", m["gone"])):
        if values:
            shown = ", ".join(f"{v} ({n})" for v, n in list(values.items())[:NEW_OR_GONE])
            more = f", and {len(values) - NEW_OR_GONE} more" if len(values) > NEW_OR_GONE else ""
            lines += ["", f"{what} (listings): {shown}{more}."]
    return lines + [""]


def _model_sections(result: dict) -> list[str]:
    u, oov = result["unsure"], result["oov"]
    lines = [
        "## Model",
        "",
        f"Unsure listings (some policy's score within {u['margin']:g} of its threshold in logit space): "
        f"{format_share(u['reference'])} of the reference, {format_share(u['current'])} of the current batch.",
        "",
        (f"Tokenizer out-of-vocabulary rate (share of the tokens the model sees that are `{oov['unknown_token']}`): "
         f"{100 * oov['reference']:.3f}% of the reference's, {100 * oov['current']:.3f}% of the current batch's."
         if oov else "The export's tokenizer has no unknown token (byte-level): no out-of-vocabulary rate."),
        "",
        f"![flag rates]({FLAG_RATE_PLOT})",
        "",
        "| policy | threshold | flag rate reference | flag rate current | change | score PSI | sampling alone | "
        "KS statistic | KS p-value |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p, v in sorted(result["policies"].items(), key=lambda pv: -pv[1]["scores"]["psi"]):
        f, sc = v["flag_rate"], v["scores"]
        lines.append(f"| {p} | {v['threshold']:.3f} | {format_share(f['reference'])} | {format_share(f['current'])} | "
                     f"{100 * f['change']:+.1f} pts | {sc['psi']:.4f} | {sc['sampling_psi']:.4f} | "
                     f"{format_number(sc['ks_statistic'])} | {sc['ks_p_value']:.2g} |")
    lines += ["", "Score PSI sets the status; the KS test is for information (on thousands of listings it finds "
              "even a harmless shift significant).", "", f"![scores]({SCORE_PLOT})", ""]
    return lines


def _bars(ax, names: list[str], reference: list[float], current: list[float], title: str) -> None:
    x = np.arange(len(names))
    ax.bar(x - 0.2, [100 * r for r in reference], 0.4, label="reference", color="C0")
    ax.bar(x + 0.2, [100 * c for c in current], 0.4, label="current", color="C1")
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("% of listings")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def mix_plot(result: dict, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, name in zip(axes.flat, ("language", "market", "category")):
        m = result[name]
        shown = sorted(m["bins"], key=lambda b: -max(b["reference_share"], b["current_share"]))[:PLOT_BINS]
        _bars(ax, [b["name"] for b in shown], [b["reference_share"] for b in shown],
              [b["current_share"] for b in shown], f"{name} mix: PSI {m['psi']:.3f}")
    length = result["length"]
    edges = [f"{e:.0f}" for e in length["edges"]]
    names = [f"<= {edges[0]}", *(f"{a}-{b}" for a, b in zip(edges, edges[1:])), f"> {edges[-1]}"]
    _bars(axes.flat[3], names, length["reference_share"], length["current_share"],
          f"text length (characters, reference quantile bins): PSI {length['psi']:.3f}")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def flag_rate_plot(result: dict, path: Path) -> None:
    plt = pyplot()
    policies = result["policies"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    _bars(ax, list(policies), [v["flag_rate"]["reference"] for v in policies.values()],
          [v["flag_rate"]["current"] for v in policies.values()], "flag rate per policy")
    ax.set_ylabel("% of listings flagged")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score_plot(result: dict, reference: np.ndarray, current: np.ndarray, n: int, path: Path) -> None:
    """Score histograms of the ``n`` policies whose scores moved most (PSI), each with its threshold."""
    plt = pyplot()
    labels = list(result["policies"])
    moved = sorted(range(len(labels)), key=lambda k: -result["policies"][labels[k]]["scores"]["psi"])[:n]
    fig, axes = plt.subplots(1, len(moved), figsize=(3.6 * len(moved), 3.4), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for ax, k in zip(axes[0], moved):
        v = result["policies"][labels[k]]
        ax.hist(reference[:, k], bins=bins, density=True, alpha=0.55, label="reference", color="C0")
        ax.hist(current[:, k], bins=bins, density=True, alpha=0.55, label="current", color="C1")
        ax.axvline(v["threshold"], color="black", linestyle="--", linewidth=1, label="threshold")
        ax.set_yscale("log")
        ax.set_title(f"{labels[k]}: PSI {v['scores']['psi']:.3f}", fontsize=9)
        ax.set_xlabel("score")
    axes[0][0].set_ylabel("density (log)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
