"""``scripts/predict.py engine=ray``: the export scored shard by shard in a Ray Data job (``engines/core.py``).

Each actor loads the ``ExportedModel`` once and predicts whole shards with the same code as ``engine=local``
(``ExportedModel.predict``): the same rows, scores and flags, one ``<shard>.jsonl`` per input shard in the
shard's order, and ``OUTPUT.summary.json`` beside the output directory.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from moddistill.data.listings import read_listings
from moddistill.data.records import write_jsonl
from moddistill.engines.core import (
    Shard,
    ShardWorker,
    actor_threads,
    output_dir_of,
    preflight,
    run_sharded,
)
from moddistill.serving.runtime import ExportedModel


def limit_threads(exported: ExportedModel, threads: int | None) -> ExportedModel:
    """The export's session re-opened with ``threads`` intra-op threads (an actor's CPU share): ONNX sessions and
    torch otherwise use every core, and two actors on two cores ran 30% slower than one. No change without a share."""
    if not threads:
        return exported
    if exported.runtime in ("onnx", "onnx_int8"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        session = exported.scorer.session
        onnx_file = exported.manifest["onnx"]["int8" if exported.runtime == "onnx_int8" else "fp32"]
        exported.scorer.session = ort.InferenceSession(str(exported.dir / onnx_file), sess_options=opts,
                                                       providers=session.get_providers())
    elif exported.runtime == "torch":
        import torch

        torch.set_num_threads(threads)
    return exported


class PredictShard(ShardWorker):
    def __init__(self, out_dir: str, max_retries: int, export_dir: str, runtime: str, batch_size: int,
                 on_error: str, columns: Mapping[str, str] | None):
        super().__init__(out_dir, max_retries)
        self.exported = limit_threads(ExportedModel.load(export_dir, runtime), actor_threads())  # once per actor
        self.batch_size, self.on_error, self.columns = batch_size, on_error, dict(columns or {})

    def process(self, shard: Shard) -> dict[str, Any]:
        t = time.perf_counter()
        listings, report = read_listings(shard.path, on_error=self.on_error, columns=self.columns, allow_empty=True,
                                         rejects_path=shard.output(self.out_dir, ".rejects.jsonl"))
        rows = self.exported.predict(listings, self.batch_size, progress=False)
        write_jsonl(shard.output(self.out_dir), rows)
        return {"read": report.read, "rows": len(rows), "rejected": report.rejected,
                "flagged": {p: sum(p in r["flagged"] for r in rows) for p in self.exported.labels},
                "runtime": self.exported.runtime, "work_s": round(time.perf_counter() - t, 3)}


def predict_sharded(cfg, *, worker: type[PredictShard] = PredictShard, worker_kwargs: dict | None = None,
                    shutdown: bool | None = None) -> dict[str, Any]:
    """``cfg`` (conf/predict.yaml with engine=ray): predict every shard of ``cfg.input`` into the directory
    ``cfg.output``; returns the summary written to ``OUTPUT.summary.json``."""
    from omegaconf import OmegaConf

    out_dir = output_dir_of(cfg.output)
    preflight(cfg.engine)  # Ray installed, the cluster reachable: before the export or any shard is read
    ExportedModel.check(cfg.export_dir, cfg.runtime)  # a refused export stops the job here, before any actor starts
    engine = OmegaConf.to_container(cfg.engine, resolve=True)
    job = run_sharded(cfg.input, out_dir, worker,
                      {"export_dir": str(cfg.export_dir), "runtime": str(cfg.runtime), "batch_size": int(cfg.batch_size),
                       "on_error": str(cfg.on_error), "columns": OmegaConf.to_container(cfg.columns),
                       **(worker_kwargs or {})}, engine, shutdown=shutdown)
    written = job.written
    flagged: dict[str, int] = {}
    for d in written:
        for p, n in d.get("flagged", {}).items():
            flagged[p] = flagged.get(p, 0) + n
    rows = job.total("rows")
    if rows == 0 and not job.failed and not cfg.allow_empty:
        raise_empty(cfg.input)
    summary = {"input": str(cfg.input), "output": str(out_dir), "export_dir": str(cfg.export_dir),
               "runtime": next((d["runtime"] for d in written if d.get("runtime")), None),
               "rows": rows, "read": job.total("read"), "rejected": job.total("rejected"), "flagged": flagged,
               "rows_this_run": job.this_run("rows"),
               "listings_per_s_this_run": round(job.this_run("rows") / job.wall_s, 2) if job.wall_s else None}
    return job.conclude(out_dir, summary)


def raise_empty(input_path) -> None:
    from moddistill.data.records import EmptyInputError

    raise EmptyInputError(f"{input_path}: no rows in any shard; nothing to do (allow_empty=true accepts it)")


__all__ = ["PredictShard", "predict_sharded"]
