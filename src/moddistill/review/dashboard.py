"""What the moderation lead reads: the fused moderator's KPIs (moderate.py's summary, the export's fusion.json),
audited precision and miss rate computed live from the store by ``loop/audit.py``'s own ``estimate``, the latest
drift alerts and the leaderboard's top rows. Each part is read from the file its stage wrote; a part whose file is
absent says so, and one whose file cannot be read says why, without taking the page down.

Charts are plain geometry (``Bar``, ``Interval``) that the template draws as inline SVG: no script, no CDN.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moddistill.data.policy import Policy
from moddistill.errors import UserError
from moddistill.evaluation.leaderboard.collect import OK
from moddistill.fusion.rules import FUSION_FILE, ROUTES
from moddistill.loop.audit import estimate
from moddistill.loop.drift import RESULT_FILE as DRIFT_FILE
from moddistill.review.store import VerdictStore

CHART_WIDTH = 360  # px of the 0..1 axis of every chart


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # a share in [0, 1]
    text: str

    @property
    def width(self) -> float:
        return round(CHART_WIDTH * min(max(self.value, 0.0), 1.0), 1)


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval on the 0..1 axis; ``estimate`` None: nothing measured yet."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    text: str

    def x(self, value: float) -> float:
        return round(CHART_WIDTH * value, 1)


@dataclass
class Part:
    """One section of the dashboard: its content, or why there is none."""

    data: Any = None
    missing: str | None = None  # no file: what would fill it
    error: str | None = None  # a file that could not be read: the one line saying why


@dataclass
class Dashboard:
    production: Part = field(default_factory=Part)
    operating_point: Part = field(default_factory=Part)
    audits: list[Part] = field(default_factory=list)
    drift: Part = field(default_factory=Part)
    leaderboard: Part = field(default_factory=Part)


def _share(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def production_kpis(summary: dict) -> dict:
    """moderate.py's summary as shares of the listings it decided, and the LLM's cost per 1,000 listings."""
    n = summary["listings"]
    by = summary["decided_by"]
    shares = {r: by.get(r, 0) / n if n else 0.0 for r in ROUTES}
    cost = summary.get("estimated_cost")
    return {"listings": n, "shares": shares,
            "bars": [Bar(label, shares[r], f"{_share(shares[r])} ({by.get(r, 0):,})")
                     for r, label in zip(ROUTES, ("automation (student)", "LLM", "experts"))],
            "cost_per_1000": None if cost is None or not n else 1000 * cost / n,
            "llm_calls_per_1000": 1000 * summary.get("llm_calls", 0) / n if n else None,
            "served_from_cache": summary.get("served_from_cache", 0), "llm_unreachable": summary.get("llm_unreachable"),
            "latency": summary.get("latency") or {}, "input": summary.get("input")}


def operating_point_kpis(rules: dict) -> dict:
    """The shares fuse.py measured at the chosen operating point (fusion.json's ``chosen``)."""
    chosen = rules.get("chosen") or {}
    figures = chosen.get("figures") or {}
    bars = [Bar(label, figures[key], _share(figures[key])) for key, label in
            (("automation_rate", "automation (student)"), ("llm_share", "LLM"), ("expert_share", "experts"))
            if isinstance(figures.get(key), (int, float))]
    return {"by": chosen.get("by"), "on": chosen.get("on"), "llm_model": chosen.get("llm_model"),
            "margin": rules.get("margin"), "always_human": rules.get("always_human", []), "bars": bars,
            "quality": {k: figures[k] for k in ("macro_f1", "agreement_with_llm_only") if k in figures}}


def _interval(label: str, m: dict) -> Interval:
    text = "no audited rows yet" if not m["n"] else (
        f"{m['estimate']:.3f} [{m['low']:.3f}, {m['high']:.3f}] ({m['k']}/{m['n']})")
    return Interval(label, m["estimate"], m["low"], m["high"], text)


def audit_estimates(decisions: str, sample: str, store: VerdictStore, policy: Policy) -> dict:
    """``loop/audit.py``'s estimate from the store's verdicts now, per policy: reject precision and allow miss rate
    with Wilson 95% intervals (its report files go to a temporary directory; the console writes nothing)."""
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = Path(tmp) / "review_store.jsonl"
        store.export(verdicts)
        report, _ = estimate(decisions, sample, [str(verdicts)], policy, output_dir=tmp)
    rows = [("all", report["overall"])] + list(report["policies"].items())
    return {"sample": sample, "report": report,
            "precision": [_interval(p, m["reject_precision"]) for p, m in rows if m["reject_precision"]["n"]
                          or p == "all" or m["automatic_rejects"]],
            "miss_rate": [_interval(p, m["allow_miss_rate"]) for p, m in rows if m["allow_miss_rate"]["n"]
                          or p == "all"]}


def drift_alerts(path: str) -> dict:
    """The latest drift report's status and its checks that warn or alert, alerts first."""
    path = Path(path)
    result = json.loads((path / DRIFT_FILE if path.is_dir() else path).read_text(encoding="utf-8"))
    order = ("alert", "warn")
    checks = sorted((c for c in result["checks"] if c["status"] in order), key=lambda c: order.index(c["status"]))
    return {"status": result["status"], "checks": checks, "total": len(result["checks"]),
            "reference": result["reference"]["path"], "current": result["current"]["path"]}


def leaderboard_top(path: str, top: int) -> dict:
    """The leaderboard csv's evaluated rows, best macro-F1 first, with its bootstrap interval."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") == OK and r.get("macro_f1")]
    rows.sort(key=lambda r: -float(r["macro_f1"]))
    rows = rows[:top]

    def num(r: dict, key: str) -> float | None:
        return float(r[key]) if r.get(key) else None

    charts = [Interval(f"{r['run']} ({r['kind']})", num(r, "macro_f1"), num(r, "macro_f1_ci_low"),
                       num(r, "macro_f1_ci_high"), f"{float(r['macro_f1']):.3f}") for r in rows]
    return {"rows": rows, "chart": charts}


def _read(part: Part, what: str, path: str | Path | None, read) -> Part:
    if path is None or not Path(path).exists():
        part.missing = what if path is None else f"{what} (no {path} yet)"
        return part
    try:
        part.data = read(str(path))
    except (OSError, ValueError, KeyError, TypeError, UserError) as e:  # a file a stage wrote, read back: say why
        part.error = f"{path}: {e}"
    return part


def build_dashboard(*, policy: Policy, store: VerdictStore, export_dir: str | None, decisions: str | None,
                    moderate_summary: str | None, audit_samples: list[str], drift: str | None,
                    leaderboard: str | None, top: int) -> Dashboard:
    d = Dashboard()
    if moderate_summary is None and decisions is not None:
        moderate_summary = str(Path(decisions).with_name(Path(decisions).stem + ".summary.json"))
    _read(d.production, "moderate.py's summary (dashboard.moderate_summary=, or decisions= a moderate.py output)",
          moderate_summary, lambda p: production_kpis(json.loads(Path(p).read_text(encoding="utf-8"))))
    _read(d.operating_point, "the export's fusion.json (export_dir= an export fuse.py has chosen rules for)",
          Path(export_dir) / FUSION_FILE if export_dir else None,
          lambda p: operating_point_kpis(json.loads(Path(p).read_text(encoding="utf-8"))))
    if not audit_samples:
        d.audits.append(Part(missing="an audit.py sample among queues="))
    for sample in audit_samples:
        d.audits.append(_read(Part(), "the decisions the audit sample was drawn from (decisions=)", decisions,
                              lambda p, s=sample: audit_estimates(p, s, store, policy)))
    _read(d.drift, "drift.py's output (dashboard.drift=)", drift, drift_alerts)
    _read(d.leaderboard, "leaderboard.py's csv (dashboard.leaderboard=)", leaderboard,
          lambda p: leaderboard_top(p, top))
    return d
