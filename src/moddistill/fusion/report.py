"""The fusion report (``fusion_report.md``) and its frontier plot: what the business reads about an operating point."""

from __future__ import annotations

from pathlib import Path

from moddistill.evaluation.report import format_number, format_share
from moddistill.plotting import pyplot


def fusion_report(result: dict, manifest: dict) -> str:
    rules, k, llm = result["rules"], result["kpis"], result["llm"]
    chosen = rules["chosen"]
    ref = k["reference"]
    quality = "macro-F1" if ref == "gold labels" else "agreement with LLM-only"
    qkey = "macro_f1" if ref == "gold labels" else "agreement_with_llm_only"
    student, fused, llm_only = k["student_only"][qkey], k["fused"][qkey], k["llm_only"][qkey]
    lines = [
        f"# Fusion: {manifest['model']['name']} student + {llm['model']} ({manifest['policy']['id']} "
        f"v{manifest['policy']['version']})",
        "",
        f"On {chosen['on']}, with the LLM's labels from `{llm['file']}` ({llm['answered']} answered, "
        f"{llm['errors']} errors); figures against {ref}. Student runtime: {result['runtime']}.",
        "",
        f"**Operating point**: {chosen['by']}: {format_share(k['llm_share'])} of listings to the LLM, "
        f"{format_share(k['expert_share'])} to experts, {format_share(k['automation_rate'])} settled by the student "
        "alone.",
        "",
    ]
    if llm_only < student:
        verdict = (f"sending it only the listings the student is least sure of still helps ({fused:.3f})"
                   if fused > student else "routing listings to it does not raise quality, so none is sent")
        lines += [f"**The LLM alone is worse than the student here** ({quality} {llm_only:.3f} against the "
                  f"student's {student:.3f}): {verdict}.", ""]
    lines += [
        "| | student only | fused | LLM only |",
        "|---|---:|---:|---:|",
        *[f"| {label} | {format_number(k['student_only'][key])} | {format_number(k['fused'][key])} | "
          f"{format_number(k['llm_only'][key])} |"
          for label, key in (("macro-F1", "macro_f1"), ("decision accuracy", "decision_accuracy"),
                             ("agreement with LLM-only (whole listing)", "agreement_with_llm_only"))],
        f"| share of LLM-only {quality} | {format_share(student / llm_only if llm_only else None)} | "
        f"{format_share(fused / llm_only if llm_only else None)} | 100.0% |",
        "",
        f"Automatic decisions (the student's, on the listing-policy pairs it settled): precision "
        f"{format_number(k['auto_precision'])}, recall {format_number(k['auto_recall'])}.",
        "",
        "Cost per 1,000 listings: " + _cost(k["cost_per_1000"]),
        "",
        "## Per policy",
        "",
        "| policy | band (allow below, reject at or above) | automated | to LLM | to experts, flagged | auto precision | "
        "auto recall | F1 student | F1 fused | F1 LLM |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p, v in k["per_policy"].items():
        low, high = rules["bands"][p]
        lines.append(f"| {p} | [{low:.3f}, {high:.3f}) | {format_share(v['automation_rate'])} | "
                     f"{format_share(v['llm_share'])} | {format_share(v['expert_share'])} | "
                     f"{format_number(v['auto_precision'])} | {format_number(v['auto_recall'])} | "
                     f"{format_number(v['student_only_f1'])} | {format_number(v['fused_f1'])} | "
                     f"{format_number(v['llm_only_f1'])} |")
    lines += ["", "## Frontier", "", "![frontier](fusion_frontier.png)", ""]
    shown = _thin(result["frontier"], 11)
    if qkey == "macro_f1":
        lines += ["| LLM share | expert share | macro-F1 | decision accuracy | agreement with LLM-only |",
                  "|---:|---:|---:|---:|---:|"]
        lines += [f"| {format_share(r['llm_share'])} | {format_share(r['expert_share'])} | "
                  f"{format_number(r['macro_f1'])} | {format_number(r['decision_accuracy'])} | "
                  f"{format_share(r['agreement_with_llm_only'])} |" for r in shown]
    else:
        lines += ["| LLM share | expert share | agreement with LLM-only |", "|---:|---:|---:|"]
        lines += [f"| {format_share(r['llm_share'])} | {format_share(r['expert_share'])} | "
                  f"{format_share(r['agreement_with_llm_only'])} |" for r in shown]
    lines += ["", "Experts are not assumed right: an expert row counts at the LLM's decision where it answered, "
              "else the student's. Rules: `fusion.json` (covered by the export's manifest); "
              f"routing rule {rules['rule']}, disagreement margin {rules['disagreement_margin']}, always-human policies: "
              f"{', '.join(rules['always_human']) or 'none'}.", ""]
    return "\n".join(lines)


def _cost(c: dict) -> str:
    parts = [f"student {c['student_cpu_seconds']:.1f} CPU-seconds", f"{c['llm_calls']:.0f} LLM calls"]
    if "llm_tokens" in c:
        parts.append(f"{c['llm_tokens']:,.0f} LLM tokens")
        parts.append(f"${c['llm_cost_usd']:.4f}" if c.get("llm_cost_usd") is not None
                     else "LLM cost unknown (no price for the model in teacher.prices)")
    else:
        parts.append("LLM tokens unknown (no labelling summary beside the LLM labels)")
    return ", ".join(parts) + "."


def _thin(rows: list[dict], n: int) -> list[dict]:
    """About n rows of the frontier at evenly spaced LLM shares, always the first and the last."""
    out, last = [], -1.0
    for r in rows:
        if r["llm_share"] >= last + 1 / (n - 1) - 1e-9 or r is rows[-1] or r is rows[0]:
            out.append(r)
            last = r["llm_share"]
    return out


def frontier_plot(rows: list[dict], point: dict, gold: bool, path: Path, *, title: str) -> None:
    plt = pyplot()
    key, label = ("macro_f1", "fused macro-F1 (gold labels)") if gold else ("agreement_with_llm_only", "")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    share = [100 * r["llm_share"] for r in rows]
    if gold:
        ax.plot(share, [r["macro_f1"] for r in rows], label=label, color="C0")
    ax.plot(share, [r["agreement_with_llm_only"] for r in rows], label="agreement with LLM-only (whole listing)",
            color="C1")
    ax.axvline(100 * point["llm_share"], color="grey", linestyle="--",
               label=f"chosen: {100 * point['llm_share']:.1f}% to the LLM")
    ax.scatter([100 * point["llm_share"]], [point[key]], color="black", zorder=3)
    ax.set_xlabel("listings sent to the LLM (%)")
    ax.set_ylabel("quality")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
