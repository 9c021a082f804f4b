"""The figures we track, measured rather than assumed.

Runs the `make demo` stages (train -> evaluate -> export -> predict) as the same commands a user runs,
timing each and reading peak memory of each child process; then measures the export's inference speed
in this process: batched throughput with the length-sorted dynamic padding `scoring.score_texts` uses,
against a pad-to-max-length baseline run here on the same inputs, and single-listing latency.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from moddistill.data.listings import read_listings
from moddistill.distill.inference import encode, score_texts
from moddistill.runs.run import EVAL_DIR, METRICS_FILE
from moddistill.serving.runtime import ExportedModel


def run_stage(name: str, argv: Sequence[str], cwd: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"stage {name} failed ({' '.join(argv)}):\n{proc.stderr[-3000:]}")
    # ru_maxrss of children is the largest peak among the children waited for so far: stages run one at a
    # time, so a stage's figure is exact when it is the largest so far and an upper bound otherwise.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"stage": name, "seconds": round(seconds, 1), "peak_rss_mb_so_far": round(peak, 1)}


def pipeline(root: Path, experiment: str, train_overrides: Sequence[str], cases: str) -> tuple[list[dict], Path, Path]:
    """The demo's stages; training scores its run on the policy cases (evaluate=true), and the TF-IDF baseline
    is trained on the same rows so the student's figures always come with the baseline's."""
    stamp = f"benchmark-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    run_dir = root / "checkpoints" / experiment / stamp
    baseline_dir = root / "checkpoints" / "baseline" / experiment / stamp
    stages = [
        run_stage("train", ["scripts/train.py", f"experiment={experiment}", f"output_dir={run_dir}", *train_overrides], root),
        run_stage("baseline", ["scripts/baseline.py", f"experiment={experiment}", f"output_dir={baseline_dir}"], root),
        run_stage("export", ["scripts/export.py", f"checkpoint={run_dir}"], root),
        run_stage("predict", ["scripts/predict.py", f"export_dir={run_dir / 'export'}", f"input={cases}",
                              f"output={run_dir / 'predictions.jsonl'}"], root),
    ]
    return stages, run_dir, baseline_dir


def inference(export_dir: Path, listings_path: str, *, batch_size: int, latency_samples: int) -> dict:
    exported = ExportedModel.load(export_dir, "torch")  # the other runtimes: bench/runtimes.py
    listings, _ = read_listings(listings_path)
    texts = [exported.render(x) for x in listings]
    max_length = exported.manifest["max_length"]
    model, tok = exported.scorer.model, exported.scorer.tokenizer
    score_texts(model, tok, texts[:batch_size], max_length=max_length, progress=False)  # warm-up

    started = time.perf_counter()
    dynamic = score_texts(model, tok, texts, max_length=max_length, batch_size=batch_size, progress=False)
    dynamic_s = time.perf_counter() - started

    started = time.perf_counter()
    padded = _score_padded_to_max(model, tok, texts, max_length, batch_size)
    padded_s = time.perf_counter() - started
    np.testing.assert_allclose(dynamic, padded, atol=1e-4)  # same answers, only the padding differs

    latencies = []
    for text in texts[:latency_samples]:
        started = time.perf_counter()
        score_texts(model, tok, [text], max_length=max_length, progress=False)
        latencies.append(time.perf_counter() - started)
    return {
        "listings": len(texts),
        "batch_size": batch_size,
        "dynamic_padding_listings_per_s": round(len(texts) / dynamic_s, 1),
        "pad_to_max_length_listings_per_s": round(len(texts) / padded_s, 1),
        "speedup_vs_pad_to_max": round(padded_s / dynamic_s, 2),
        "single_listing_latency_ms": {"p50": round(1000 * float(np.percentile(latencies, 50)), 1),
                                      "p95": round(1000 * float(np.percentile(latencies, 95)), 1)},
        "torch_threads": torch.get_num_threads(),
    }


@torch.inference_mode()
def _score_padded_to_max(model, tokenizer, texts, max_length: int, batch_size: int) -> np.ndarray:
    """Baseline: input order, every batch padded to max_length (what a naive serving loop does)."""
    out = []
    for start in range(0, len(texts), batch_size):
        enc = encode(texts[start : start + batch_size], tokenizer, model.config, max_length=max_length,
                     padding="max_length").to(model.device)
        out.append(torch.sigmoid(model(**enc).logits.float()).cpu().numpy())
    return np.concatenate(out)


def _case_metrics(run_dir: Path) -> dict:
    cases = json.loads(next((run_dir / EVAL_DIR).glob(f"*/{METRICS_FILE}")).read_text(encoding="utf-8"))
    return {"n": cases["n"], "macro_f1": round(cases["macro_f1"], 4), "micro_f1": round(cases["micro_f1"], 4),
            "decision_accuracy": round(cases["decision_accuracy"], 4)}


def summarize(stages: list[dict], run_dir: Path, baseline_dir: Path, infer: dict) -> dict:
    metrics = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
    return {
        "run_dir": str(run_dir),
        "stages": stages,
        "pipeline_seconds": round(sum(s["seconds"] for s in stages), 1),
        "train": {"samples_per_s": metrics["train"]["train_samples_per_second"],
                  "train_rows": metrics["data"]["train"], "epochs": metrics["train"]["epoch"],
                  "peak_rss_mb": metrics["resources"]["peak_rss_mb"], "device": metrics["resources"]["device"]},
        "policy_cases": _case_metrics(run_dir),
        "baseline_policy_cases": _case_metrics(baseline_dir),
        "validation_macro_f1": round(metrics["validation"]["at_thresholds"]["macro_f1"], 4),
        "inference": infer,
    }


def format_summary(s: dict) -> str:
    lines = ["stage      seconds  peak RSS so far (MB)"]
    lines += [f"{st['stage']:<10} {st['seconds']:>7.1f}  {st['peak_rss_mb_so_far']:>8.0f}" for st in s["stages"]]
    t, c, b, i = s["train"], s["policy_cases"], s["baseline_policy_cases"], s["inference"]
    lines += [
        f"pipeline (train + evaluate -> baseline -> export -> predict): {s['pipeline_seconds']:.1f} s",
        f"training: {t['samples_per_s']:.1f} samples/s over {t['epochs']:.2f} epochs of {t['train_rows']} rows on "
        f"{t['device']}, peak RSS {t['peak_rss_mb']:.0f} MB",
        f"policy cases ({c['n']}): macro-F1 {c['macro_f1']:.3f}, micro-F1 {c['micro_f1']:.3f}, "
        f"decision accuracy {c['decision_accuracy']:.3f}; validation macro-F1 {s['validation_macro_f1']:.3f}",
        f"TF-IDF baseline, same rows: macro-F1 {b['macro_f1']:.3f}, micro-F1 {b['micro_f1']:.3f}, "
        f"decision accuracy {b['decision_accuracy']:.3f} (student - baseline macro-F1: {c['macro_f1'] - b['macro_f1']:+.3f})",
        f"inference ({i['listings']} listings, batch {i['batch_size']}, {i['torch_threads']} threads): "
        f"{i['dynamic_padding_listings_per_s']:.1f} listings/s with dynamic padding vs "
        f"{i['pad_to_max_length_listings_per_s']:.1f} padded to max length ({i['speedup_vs_pad_to_max']:.2f}x); "
        f"single listing p50 {i['single_listing_latency_ms']['p50']:.1f} ms, p95 {i['single_listing_latency_ms']['p95']:.1f} ms",
    ]
    return "\n".join(lines)
