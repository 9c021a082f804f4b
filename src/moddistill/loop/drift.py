"""``scripts/drift.py``: does a new batch of listings still look like the data the student was trained on?

Always (no model needed): the language, market and top-level category mix and the text length, each as a PSI
(population stability index) between the reference batch and the current one. With an export: per-policy flag
rates and score distributions (PSI, and the two-sample KS statistic for information), the share of listings
the student is unsure about, and the tokenizer's out-of-vocabulary rate. Each check is ok, warn or alert
against the limits in ``conf/drift.yaml``; any alert ends the script with ``EXIT_DRIFT_ALERT``.

PSI = sum over bins of (current share - reference share) * ln(current share / reference share). A share of 0
counts as ``EPSILON``, so a bin new or gone on one side weighs a lot but stays finite. In a mix, a rare value
would be mostly noise, so a value gets its own bin only when it holds at least ``min_share`` of the listings
and ``min_count`` listings in the reference or in the current batch; the rest share one ``(other)`` bin.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from omegaconf import DictConfig

from moddistill.config import to_dict
from moddistill.data.listings import Listing, read_listings, render_listing
from moddistill.errors import UserError
from moddistill.fusion.rules import signed_margins
from moddistill.loop.drift_report import (
    FLAG_RATE_PLOT,
    MIX_PLOT,
    SCORE_PLOT,
    drift_report,
    flag_rate_plot,
    mix_plot,
    score_plot,
)
from moddistill.metrics.classification import flag
from moddistill.serving.runtime import ExportedModel, contract_tokenizer

EXIT_DRIFT_ALERT = 3  # not 1: scripts exit 1 on a crash (cli.py), and a scheduler must tell the two apart
EPSILON = 1e-4
OTHER = "(other)"
STATUSES = ("ok", "warn", "alert")
REPORT_FILE = "drift_report.md"
RESULT_FILE = "drift_report.json"
MIXES = {"language": lambda x: x.language, "market": lambda x: x.market,
         "category": lambda x: top_level_category(x.category)}


def top_level_category(category: str) -> str:
    """"Sports & Outdoors > Hunting > Ammunition" -> "Sports & Outdoors": deeper levels split the mix too thin."""
    return category.split(" > ", 1)[0].strip()


def psi_terms(reference_counts: Sequence[float], current_counts: Sequence[float]) -> np.ndarray:
    """Each bin's PSI term (their sum is the PSI), from the two batches' counts over the same bins."""
    p = np.maximum(np.asarray(reference_counts, dtype=float) / np.sum(reference_counts), EPSILON)
    q = np.maximum(np.asarray(current_counts, dtype=float) / np.sum(current_counts), EPSILON)
    return (q - p) * np.log(q / p)


def sampling_psi(bins: int, n_reference: int, n_current: int) -> float:
    """The PSI two samples of these sizes from one distribution show on average, (bins - 1)(1/n_ref + 1/n_cur):
    printed beside each PSI so a reader can tell a shift from the noise of a small batch."""
    return (bins - 1) * (1 / n_reference + 1 / n_current)


def mix_shift(reference: Sequence[str], current: Sequence[str], *, min_share: float, min_count: int) -> dict:
    """PSI of a categorical mix over the pooled bins (module docstring), with the values new in or gone from
    the current batch (before pooling)."""
    ref, cur = Counter(reference), Counter(current)

    def own_bin(value: str) -> bool:
        return any(c[value] >= max(min_count, min_share * n) for c, n in ((ref, len(reference)), (cur, len(current))))

    values = sorted(ref.keys() | cur.keys(), key=lambda v: (-ref[v], -cur[v], v))
    kept = [v for v in values if own_bin(v)]
    pooled = [v for v in values if not own_bin(v)]
    names = kept + ([OTHER] if pooled else [])
    rc = [ref[v] for v in kept] + ([sum(ref[v] for v in pooled)] if pooled else [])
    cc = [cur[v] for v in kept] + ([sum(cur[v] for v in pooled)] if pooled else [])
    terms = psi_terms(rc, cc)
    return {
        "psi": float(terms.sum()), "sampling_psi": sampling_psi(len(names), len(reference), len(current)),
        "pooled_into_other": len(pooled),
        "bins": [{"name": n, "reference": r, "current": c, "reference_share": r / len(reference),
                  "current_share": c / len(current), "psi": float(t)} for n, r, c, t in zip(names, rc, cc, terms)],
        "new": {v: cur[v] for v in sorted(cur, key=lambda v: (-cur[v], v)) if v not in ref},
        "gone": {v: ref[v] for v in sorted(ref, key=lambda v: (-ref[v], v)) if v not in cur},
    }


def quantile_shift(reference: Sequence[float], current: Sequence[float], *, bins: int) -> dict:
    """PSI of a numeric distribution over bins cut at the reference's quantiles (tied quantiles merge bins), so the
    bins follow the data instead of a fixed grid; its minimum and maximum are cuts too, so a value beyond the
    reference's range lands in a bin the reference left empty and counts as new. Bin i holds (edge i-1, edge i]."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    rc = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1)
    terms = psi_terms(rc, cc)
    return {"psi": float(terms.sum()), "sampling_psi": sampling_psi(len(rc), len(reference), len(current)),
            "edges": edges.tolist(), "reference_share": (rc / len(reference)).tolist(),
            "current_share": (cc / len(current)).tolist(), "psi_terms": terms.tolist()}


def unsure_share(scores: np.ndarray, thresholds: Mapping[str, float], margin: float) -> float:
    """Share of listings with some policy's score within ``margin`` of its threshold in logit space (the same
    distance on either side of any threshold, unlike a band of probabilities; the fusion rules' band)."""
    return float((np.abs(signed_margins(scores, thresholds)) < margin).any(axis=1).mean())


def unknown_token_id(tokenizer) -> int | None:
    """The id of the tokenizer model's unknown token (WordPiece, BPE, WordLevel: ``unk_token``; Unigram:
    ``unk_id``); None for a model without one (byte-level BPE never produces an unknown token)."""
    model = json.loads(tokenizer.to_str())["model"]
    if model.get("unk_id") is not None:
        return int(model["unk_id"])
    return tokenizer.token_to_id(model["unk_token"]) if model.get("unk_token") else None


def oov_rate(tokenizer, texts: Sequence[str], unk_id: int) -> float:
    """Share of the (non-special) tokens the model sees, truncation included, that are the unknown token."""
    unknown = total = 0
    for e in tokenizer.encode_batch(list(texts)):
        ids = np.asarray(e.ids)[np.asarray(e.special_tokens_mask) == 0]
        unknown += int((ids == unk_id).sum())
        total += ids.size
    return unknown / total if total else 0.0


def status(value: float, warn: float, alert: float) -> str:
    """ok, warn or alert: a limit reached counts (an alert at 0.25 fires at exactly 0.25)."""
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def data_shift(reference: Sequence[Listing], current: Sequence[Listing], settings: Mapping) -> dict:
    """The checks that need no model: the mixes and the text length (characters of the model's input text)."""
    mix = settings["mix"]
    out = {name: mix_shift([key(x) for x in reference], [key(x) for x in current], min_share=mix["min_share"],
                           min_count=mix["min_count"]) for name, key in MIXES.items()}
    out["length"] = quantile_shift([len(render_listing(x)) for x in reference],
                                   [len(render_listing(x)) for x in current], bins=settings["quantile_bins"])
    return out


def model_shift(reference: np.ndarray, current: np.ndarray, labels: Sequence[str], thresholds: Mapping[str, float],
                settings: Mapping) -> dict:
    """Per-policy flag rates and score distributions, and the share of unsure listings, from two score matrices."""
    from scipy.stats import ks_2samp

    t = [thresholds[p] for p in labels]
    ref_rate, cur_rate = flag(reference, t).mean(axis=0), flag(current, t).mean(axis=0)
    policies = {}
    for k, p in enumerate(labels):
        ks = ks_2samp(reference[:, k], current[:, k])
        policies[p] = {"threshold": float(thresholds[p]),
                       "flag_rate": {"reference": float(ref_rate[k]), "current": float(cur_rate[k]),
                                     "change": float(cur_rate[k] - ref_rate[k])},
                       "scores": {**quantile_shift(reference[:, k], current[:, k], bins=settings["quantile_bins"]),
                                  "ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue)}}
    margin = settings["unsure_margin"]
    ordered = {p: thresholds[p] for p in labels}
    ref_unsure, cur_unsure = unsure_share(reference, ordered, margin), unsure_share(current, ordered, margin)
    return {"policies": policies, "unsure": {"margin": margin, "reference": ref_unsure, "current": cur_unsure,
                                             "change": cur_unsure - ref_unsure}}


def checks(result: dict, limits: Mapping[str, float]) -> list[dict]:
    """One row per check: what is measured, its value, its warn and alert limits and its status."""
    rows = []

    def add(check: str, measure: str, value: float, limit: str) -> None:
        warn, alert = limits[f"{limit}_warn"], limits[f"{limit}_alert"]
        rows.append({"check": check, "measure": measure, "value": value, "warn": warn, "alert": alert,
                     "status": status(value, warn, alert)})

    for name in MIXES:
        add(f"{name} mix", "PSI", result[name]["psi"], "psi")
    add("text length", "PSI", result["length"]["psi"], "psi")
    for p, v in (result.get("policies") or {}).items():
        add(f"{p} flag rate", "absolute change", abs(v["flag_rate"]["change"]), "flag_rate")
        add(f"{p} scores", "PSI", v["scores"]["psi"], "psi")
    if result.get("unsure"):
        add("unsure listings", "share increase", result["unsure"]["change"], "unsure_share")
    if result.get("oov"):
        add("tokenizer OOV", "rate increase", result["oov"]["change"], "oov")
    return rows


def _read(path: str, name: str, cfg: DictConfig, output: Path) -> tuple[list[Listing], dict]:
    listings, report = read_listings(path, on_error=cfg.on_error, columns=to_dict(cfg.columns),
                                     rejects_path=output / f"{name}.rejects.jsonl")
    if len(listings) < cfg.min_listings:
        raise UserError(f"{path}: sample too small: {len(listings)} listings, drift needs at least "
                        f"min_listings={cfg.min_listings} in each file (fewer would report noise)")
    return listings, {"path": str(path), "listings": len(listings), "rejected": report.rejected}


def drift_files(cfg: DictConfig) -> tuple[dict, Path]:
    """Compare ``cfg.current`` with ``cfg.reference``; writes the report, its JSON and plots into the output
    directory (default: ``<current stem>.drift/`` beside current). Returns the result and the directory."""
    limits = to_dict(cfg.limits)
    for name in ("psi", "flag_rate", "unsure_share", "oov"):
        if limits[f"{name}_warn"] > limits[f"{name}_alert"]:
            raise UserError(f"limits.{name}_warn={limits[name + '_warn']} is above limits.{name}_alert="
                            f"{limits[name + '_alert']}")
    output = Path(cfg.output) if cfg.output else Path(cfg.current).with_suffix(".drift")
    reference, ref_read = _read(cfg.reference, "reference", cfg, output)
    current, cur_read = _read(cfg.current, "current", cfg, output)
    settings = to_dict(cfg)
    result = {"reference": ref_read, "current": cur_read, "export": None, **data_shift(reference, current, settings)}
    scores = None
    if cfg.export_dir:
        model = ExportedModel.load(cfg.export_dir, cfg.runtime)
        scores = [model.score(x, batch_size=cfg.batch_size, progress=bool(cfg.progress)) for x in (reference, current)]
        result["export"] = {"dir": str(cfg.export_dir), "model": model.manifest["model"]["name"],
                            "runtime": model.runtime}
        result.update(model_shift(*scores, model.labels, model.manifest["thresholds"], settings))
        tokenizer = contract_tokenizer(model.dir, model.manifest["input"])
        unk = unknown_token_id(tokenizer)
        result["oov"] = None  # a tokenizer without an unknown token (byte-level) has no OOV rate to watch
        if unk is not None:
            ref_oov, cur_oov = (oov_rate(tokenizer, [render_listing(x) for x in batch], unk)
                                for batch in (reference, current))
            result["oov"] = {"unknown_token": tokenizer.id_to_token(unk), "reference": ref_oov, "current": cur_oov,
                             "change": cur_oov - ref_oov}
    result["checks"] = checks(result, limits)
    result["status"] = max((c["status"] for c in result["checks"]), key=STATUSES.index)
    result["settings"] = {k: settings[k] for k in ("min_listings", "mix", "quantile_bins", "unsure_margin", "limits")}

    output.mkdir(parents=True, exist_ok=True)
    mix_plot(result, output / MIX_PLOT)
    if scores is not None:
        flag_rate_plot(result, output / FLAG_RATE_PLOT)
        score_plot(result, *scores, cfg.plot_policies, output / SCORE_PLOT)
    (output / RESULT_FILE).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    (output / REPORT_FILE).write_text(drift_report(result), encoding="utf-8")
    return result, output
