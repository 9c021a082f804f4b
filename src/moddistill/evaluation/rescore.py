"""Another threshold rule on finished runs, without their models: the rule re-chooses thresholds from the run's
``validation_scores.jsonl`` (which marks its allowed look-alikes) and the policy cases are re-scored from the
run's ``eval/<cases>/case_scores.jsonl``. Exactly what training would have chosen under that rule, except that a
stacked student's encoder weight was chosen under the run's own rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from moddistill.data.policy import parse_policy
from moddistill.data.policy_cases import read_policy_cases
from moddistill.data.records import iter_rows
from moddistill.evaluation.report import CASE_SCORES_FILE, LOOKALIKE_TAG, evaluate_cases
from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds
from moddistill.runs.run import CONFIG_FILE, EVAL_DIR, METRICS_FILE, VALIDATION_SCORES_FILE


def rescore_run(run_dir: str | Path, rule: ThresholdRule, cases: str = "marketplace_v1") -> dict:
    """The headline figures of ``run_dir`` on its ``cases`` evaluation under ``rule``."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    policy = parse_policy(config["policy"], source=str(run_dir / CONFIG_FILE))
    ids = policy.ids
    val = [row.data for row in iter_rows(run_dir / VALIDATION_SCORES_FILE)]
    y_val = np.array([[r["teacher"][p] >= 0.5 for p in ids] for r in val], dtype=int)
    s_val = np.array([[r["student"][p] for p in ids] for r in val], dtype=float)
    lookalikes = np.array([bool(r.get("lookalike")) for r in val], dtype=bool)
    choice = choose_thresholds(y_val, s_val, ids, rule, lookalikes)
    eval_dir = run_dir / EVAL_DIR / cases
    metrics = json.loads((eval_dir / METRICS_FILE).read_text(encoding="utf-8"))
    case_list, _ = read_policy_cases(metrics["policy_cases"], policy)
    scores = {row.data["id"]: row.data["scores"] for row in iter_rows(eval_dir / CASE_SCORES_FILE)}
    result = evaluate_cases(case_list, np.array([[scores[c.id][p] for p in ids] for c in case_list]), ids,
                            choice.thresholds)
    return {"run": str(run_dir), "macro_f1": result["macro_f1"], "decision_accuracy": result["decision_accuracy"],
            "lookalike_false_reject": result["false_reject"][LOOKALIKE_TAG]["rate"],
            "inv_consistency": result["invariance"]["consistent"],
            "per_policy_f1": {p: m["f1"] for p, m in result["per_policy"].items()},
            "validation_lookalike_false_reject": choice.lookalike_false_reject, "floor": choice.floor}


def rescore_table(run_dirs: list[Path], rules: list[str], cases: str = "marketplace_v1") -> list[dict]:
    """Per recipe (the runs' parent directory, e.g. ``sweeps/both/student``) and rule: mean and std over its runs
    (seeds) of the headline figures."""
    groups: dict[str, list[Path]] = {}
    for d in sorted(run_dirs):
        groups.setdefault(str(d.parent), []).append(d)
    out = []
    for recipe, dirs in groups.items():
        for text in rules:
            rows = [rescore_run(d, ThresholdRule.parse(text), cases) for d in dirs]
            entry = {"recipe": recipe, "rule": text, "runs": len(rows)}
            for key in ("macro_f1", "decision_accuracy", "lookalike_false_reject", "inv_consistency"):
                values = np.array([r[key] for r in rows], dtype=float)
                entry[key] = float(values.mean())
                entry[key + "_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            entry["per_run_macro_f1"] = [round(r["macro_f1"], 3) for r in rows]
            entry["per_policy_f1"] = {p: float(np.mean([r["per_policy_f1"][p] for r in rows]))
                                      for p in rows[0]["per_policy_f1"]}
            out.append(entry)
    return out


def format_rescore_table(rows: list[dict]) -> str:
    lines = ["| recipe | rule | runs | macro-F1 mean ± std (per run) | decision acc. | look-alikes rejected | inv | "
             "lowest policy F1 (mean) |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['rule']} | {r['runs']} | {r['macro_f1']:.3f} ± {r['macro_f1_std']:.3f} "
                     f"({', '.join(map(str, r['per_run_macro_f1']))}) | {r['decision_accuracy']:.3f} | "
                     f"{r['lookalike_false_reject']:.3f} ± {r['lookalike_false_reject_std']:.3f} | "
                     f"{r['inv_consistency']:.3f} | {_lowest(r['per_policy_f1'])} |")
    return "\n".join(lines)


def _lowest(per_policy: dict[str, float]) -> str:
    policy = min(per_policy, key=per_policy.get)
    return f"{policy} {per_policy[policy]:.3f}"
