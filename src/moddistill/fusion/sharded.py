"""``scripts/moderate.py engine=ray``: the fused moderator (``moderate.moderate_file``, unchanged) run shard by
shard in Ray actors (``engines/core.py``). Each actor loads the export once; each shard gets its own SQLite
request cache (``<engine.cache_dir or output>/<shard>.cache.sqlite``, as ``teacher/sharded.py`` explains) and its
rows in ``<shard>.jsonl``; ``OUTPUT.summary.json`` sums the shards' decisions, calls, tokens and cost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from moddistill.engines.core import (
    ShardWorker,
    actor_threads,
    output_dir_of,
    preflight,
    run_sharded,
)
from moddistill.fusion.moderate import moderate_file
from moddistill.fusion.operating_point import load_rules
from moddistill.serving.engines import limit_threads
from moddistill.serving.runtime import ExportedModel
from moddistill.teacher.sharded import per_actor_rate, shard_config

SUMMED = ("listings", "rejected_rows", "routed_to_llm", "llm_calls", "served_from_cache", "tokens_in", "tokens_out")


class ModerateShard(ShardWorker):
    def __init__(self, out_dir: str, max_retries: int, cfg: dict):
        super().__init__(out_dir, max_retries)
        self.cfg = cfg
        self.exported = limit_threads(ExportedModel.load(cfg["export_dir"], cfg["runtime"]), actor_threads())

    def process(self, shard) -> dict[str, Any]:
        s = moderate_file(shard_config(self.cfg, shard, self.out_dir, self.cfg["engine"].get("cache_dir")),
                          self.exported)
        return {k: s[k] for k in (*SUMMED, "decided_by", "llm_unreachable", "llm_errors", "estimated_cost",
                                  "runtime", "seconds")}


def moderate_sharded(cfg: DictConfig, *, shutdown: bool | None = None) -> dict[str, Any]:
    """``cfg`` (conf/moderate.yaml with engine=ray): moderate every shard of ``cfg.input`` into the directory
    ``cfg.output``; returns the summary written to ``OUTPUT.summary.json`` (the keys moderate.py prints)."""
    out_dir = output_dir_of(cfg.output)
    preflight(cfg.engine)  # Ray installed, the cluster reachable: before the export or any shard is read
    manifest, runtime = ExportedModel.check(cfg.export_dir, cfg.runtime)  # a refused export stops the job here,
    load_rules(Path(cfg.export_dir), manifest)  # and so does one without fusion rules, before any actor starts
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("hydra", None)
    values["teacher"]["requests_per_minute"] = per_actor_rate(cfg, int(cfg.engine.concurrency))
    job = run_sharded(cfg.input, out_dir, ModerateShard, {"cfg": values}, values["engine"], shutdown=shutdown)
    written, now = job.written, job.done
    decided: Counter = Counter()
    llm_errors: Counter = Counter()
    for d in written:
        decided.update(d["decided_by"])
        llm_errors.update(d.get("llm_errors") or {})
    costs = [d.get("estimated_cost") for d in now]
    unreachable = sorted({d["llm_unreachable"] for d in now if d.get("llm_unreachable")})
    summary = {
        "input": str(cfg.input), "output": str(out_dir), "export_dir": str(cfg.export_dir),
        "runtime": runtime,
        **{k: job.total(k) for k in ("listings", "rejected_rows", "routed_to_llm")},
        "decided_by": dict(decided), "llm_unreachable": "; ".join(unreachable) or None,
        "llm_errors": dict(llm_errors),
        **{k: job.this_run(k) for k in ("llm_calls", "served_from_cache", "tokens_in", "tokens_out")},
        "estimated_cost": None if any(c is None for c in costs) else round(sum(costs), 6),
        "counts": "listings, decided_by, routed_to_llm: every written shard; calls, tokens, cost: this run's shards",
        "teacher": {"model": cfg.teacher.model, "base_url": cfg.teacher.base_url},
    }
    return job.conclude(out_dir, summary)
