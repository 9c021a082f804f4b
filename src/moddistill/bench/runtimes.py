"""The export's runtimes side by side, in one process, on the same listings: torch fp32 eager (and bf16 where
the CPU has it), ONNX fp32, ONNX int8.

For each: listings/s at one batch size, p50/p95 latency of one listing alone, the compute it reached (the
encoder's matmul FLOPs over the tokens actually run, padding included) as a share of this machine's measured
matmul peak in the same precision (measured here on the model's own feed-forward shape), and its agreement
with torch fp32 on the policy cases: allow/reject decisions and macro-F1. Then ``scripts/predict.py`` end to
end (process start included) on a listings file for each runtime.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from moddistill.data.policy import parse_policy
from moddistill.data.policy_cases import read_policy_cases
from moddistill.evaluation.report import evaluate_cases
from moddistill.export.onnx import quiet_onnxruntime_logs
from moddistill.metrics.classification import flag
from moddistill.serving.runtime import ExportedModel, available_runtimes

REFERENCE = "torch"


def _seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` wall times (the least disturbed by whatever else the machine does)."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_peaks(m: int, k: int, n: int, repeats: int = 20) -> dict[str, float]:
    """Best GFLOP/s of an (m, k) x (k, n) matmul: fp32 (the better of torch and onnxruntime), bf16 in torch, int8
    as onnxruntime's dynamically quantized MatMul (what the int8 export runs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime import InferenceSession
    from onnxruntime.quantization import QuantType, quantize_dynamic

    flops = 2.0 * m * k * n
    a, b, c = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    fp32_torch = flops / _seconds(lambda: torch.matmul(a, b, out=c), repeats) / 1e9
    peaks = {}
    if bf16_supported():
        a16, b16, c16 = a.bfloat16(), b.bfloat16(), c.bfloat16()
        peaks["bf16"] = flops / _seconds(lambda: torch.matmul(a16, b16, out=c16), repeats) / 1e9
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                              [numpy_helper.from_array(b.numpy(), "w")])
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "mm.onnx", Path(tmp) / "mm_int8.onnx"
        onnx.save(helper.make_model(graph), fp32)
        with quiet_onnxruntime_logs():
            quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)
        x = a.numpy()
        for name, path in (("fp32", fp32), ("int8", int8)):
            session = InferenceSession(str(path), providers=["CPUExecutionProvider"])
            peaks[name] = flops / _seconds(lambda: session.run(None, {"x": x}), repeats) / 1e9
    peaks["fp32"] = max(peaks["fp32"], fp32_torch)  # the better of torch's and onnxruntime's fp32 kernels
    return peaks


def bf16_supported() -> bool:
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def encoder_flops(encoder: dict, lengths: Sequence[int], batch_size: int) -> float:
    """Matmul FLOPs of the encoder over ``lengths`` batched as the runtimes batch them (sorted by token count,
    each batch padded to its longest): per token and layer 2(4H^2 + 2HI) for the projections and feed-forward,
    plus 4TH for attention scores and their weighted sum."""
    h, i, layers = encoder["hidden_size"], encoder["intermediate_size"], encoder["num_hidden_layers"]
    ordered = sorted(lengths)
    total = 0.0
    for start in range(0, len(ordered), batch_size):
        batch = ordered[start : start + batch_size]
        t = max(batch)
        total += len(batch) * t * layers * (2 * (4 * h * h + 2 * h * i) + 4 * t * h)
    return total


def measure_runtimes(export_dir: Path, cases_path: Path, *, batch_size: int, latency_samples: int,
                     repeats: int = 3) -> dict:
    """One row per runtime the export has (torch fp32 first: the reference), plus the peaks."""
    probe = ExportedModel.load(export_dir, REFERENCE)
    manifest = probe.manifest
    policy = parse_policy(manifest["provenance"]["config"]["policy"], source=f"{export_dir}/moddistill.json")
    cases, _ = read_policy_cases(cases_path, policy)
    listings = [c.listing for c in cases]
    texts = [probe.render(x) for x in listings]
    tok = probe.scorer.tokenizer
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=manifest["max_length"])["input_ids"]]
    encoder = probe.scorer.model.config.encoder
    flops = encoder_flops(encoder, lengths, batch_size)
    peaks = matmul_peaks(batch_size * int(np.mean(lengths)), encoder["hidden_size"], encoder["intermediate_size"])
    del probe
    gc.collect()

    thresholds = [manifest["thresholds"][p] for p in manifest["labels"]]
    # ONNX first, torch after: torch's OpenMP threads keep spinning after a call and would slow a runtime
    # measured right after them
    variants = [(r, r, None) for r in ("onnx_int8", "onnx") if r in available_runtimes(manifest)]
    variants += [("torch", "torch fp32", None)] + ([("torch", "torch bf16", torch.bfloat16)] if bf16_supported() else [])
    rows, scores = [], {}
    for runtime, name, autocast in variants:
        model = ExportedModel.load(export_dir, runtime)

        def score(items, model=model, autocast=autocast):
            if autocast is None:
                return model.score(items, batch_size=batch_size, progress=False)
            with torch.autocast("cpu", dtype=autocast):
                return model.score(items, batch_size=batch_size, progress=False)

        seconds = _seconds(lambda: score(listings), repeats)
        scores[name] = score(listings)
        latencies = []
        for x in listings[:latency_samples]:
            started = time.perf_counter()
            score([x])
            latencies.append(time.perf_counter() - started)
        precision = {"onnx_int8": "int8", "torch bf16": "bf16"}.get(name, "fp32")
        rows.append({
            "runtime": name, "precision": precision,
            "listings_per_s": round(len(listings) / seconds, 1),
            "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
            "p95_ms": round(1000 * float(np.percentile(latencies, 95)), 2),
            "gflop_per_s": round(flops / seconds / 1e9, 1),
            "share_of_peak": round(flops / seconds / 1e9 / peaks[precision], 3),
        })
        del model
        gc.collect()
    reference = scores["torch fp32"]
    ref_flags = flag(reference, thresholds)
    for row in rows:
        s = scores[row["runtime"]]
        flags = flag(s, thresholds)
        row["decision_agreement"] = round(float(np.mean(flags == ref_flags)), 4)
        row["allow_reject_agreement"] = round(float(np.mean(flags.any(axis=1) == ref_flags.any(axis=1))), 4)
        row["all_policies_agreement"] = round(float(np.mean((flags == ref_flags).all(axis=1))), 4)
        row["max_abs_score_diff"] = round(float(np.abs(s - reference).max()), 5)
        row["macro_f1"] = round(evaluate_cases(cases, s, policy.ids, manifest["thresholds"])["macro_f1"], 4)
    rows.sort(key=lambda r: r["runtime"] != "torch fp32")
    fp32 = rows[0]["listings_per_s"]
    for row in rows:
        row["speedup_vs_torch_fp32"] = round(row["listings_per_s"] / fp32, 2)
    return {"export_dir": str(export_dir), "available": available_runtimes(manifest), "cases": str(cases_path),
            "listings": len(listings),
            "batch_size": batch_size, "tokens_per_listing": round(float(np.mean(lengths)), 1),
            "gflop_per_listing": round(flops / len(listings) / 1e9, 3), "torch_threads": torch.get_num_threads(),
            "peak_gflop_per_s": {k: round(v, 1) for k, v in peaks.items()}, "runtimes": rows}


def predict_end_to_end(root: Path, export_dir: Path, listings_path: Path, runtimes: Sequence[str]) -> list[dict]:
    """``scripts/predict.py`` as a user runs it, once per runtime: wall seconds with process start included."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes:
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, "scripts/predict.py", f"export_dir={export_dir}",
                                   f"input={listings_path}", f"output={tmp}/{runtime}.jsonl", f"runtime={runtime}"],
                                  cwd=root, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(f"predict runtime={runtime} failed:\n{proc.stderr[-3000:]}")
            out.append({"runtime": runtime, "seconds": round(seconds, 2)})
    torch_s = next((r["seconds"] for r in out if r["runtime"] == "torch"), None)
    for r in out:
        r["speedup_vs_torch"] = round(torch_s / r["seconds"], 2) if torch_s else None
    return out


def format_runtimes(result: dict, end_to_end: list[dict], listings_path: Path) -> str:
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in result["peak_gflop_per_s"].items())
    lines = [
        f"export: {result['export_dir']}",
        f"{result['listings']} policy cases, batch {result['batch_size']}, {result['tokens_per_listing']} tokens per "
        f"listing, {result['gflop_per_listing']:.3f} GFLOP per listing at batch {result['batch_size']} (padding "
        f"included); torch threads {result['torch_threads']}",
        f"measured matmul peak (GFLOP/s, the model's feed-forward shape): {peaks}",
        "",
        "| runtime | listings/s | vs torch fp32 | p50 ms (1 listing) | p95 ms | GFLOP/s | share of peak | "
        "allow/reject = torch fp32 | every policy's flag = torch fp32 | (listing, policy) flags = torch fp32 | "
        "policy-case macro-F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['runtime']} | {r['listings_per_s']:.1f} | {r['speedup_vs_torch_fp32']:.2f}x | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['gflop_per_s']:.0f} | {100 * r['share_of_peak']:.0f}% ({r['precision']}) | "
              f"{100 * r['allow_reject_agreement']:.2f}% | {100 * r['all_policies_agreement']:.2f}% | "
              f"{100 * r['decision_agreement']:.2f}% | {r['macro_f1']:.3f} |"
              for r in result["runtimes"]]
    lines += ["", f"scripts/predict.py end to end on {listings_path} (process start included):"]
    lines += [f"  runtime={r['runtime']}: {r['seconds']:.1f} s"
              + (f" ({r['speedup_vs_torch']:.2f}x runtime=torch)" if r["speedup_vs_torch"] else "")
              for r in end_to_end]
    return "\n".join(lines)
