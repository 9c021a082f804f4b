"""``scripts/label.py engine=ray``: the labeller (``labeling.label_file``, unchanged) run shard by shard inside Ray
actors (``engines/core.py``), not ``ray.data.llm`` (no response cache, and its extra pulls a GPU stack).

- The cache: one SQLite request cache per shard, ``<cache_dir>/<shard>.cache.sqlite`` (``engine.cache_dir``;
  null: the output directory). One file per shard has one writer at a time, whichever node runs the shard, so
  nothing depends on SQLite locking over a network file system (unreliable on NFS); a shard retried on another
  actor, or rerun after a kill, finds every answer its first attempt received. ``cache`` (the single-process
  cache) is not read by engine=ray.
- The rate: ``teacher.concurrency`` requests in flight per actor; ``engine.requests_per_minute`` in total, split
  evenly between the actors (``teacher.requests_per_minute``, when lower, bounds each actor).
- Resume: a shard's labels, errors and counts are written when it ends (temporary file + rename); a killed
  actor's shard is retried by Ray and a killed job's rerun skips written shards, so what is paid twice is at most
  the requests in flight when the worker died (their answers never arrived, so nothing cached them).
- The API key: read from ``teacher.api_key_env`` by each worker from its own environment; it never travels in
  the job. A local Ray (``engine.address=null``) inherits this process's environment.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from moddistill.engines.core import (
    Shard,
    ShardWorker,
    output_dir_of,
    preflight,
    run_sharded,
)
from moddistill.teacher.labeling import LabelSummary, label_file
from moddistill.teacher.openai_backend import TeacherError


def per_actor_rate(cfg: DictConfig, actors: int) -> float | None:
    """Requests a minute each actor may send: its share of engine.requests_per_minute, at most teacher's own."""
    own, total = cfg.teacher.get("requests_per_minute"), cfg.engine.get("requests_per_minute")
    share = float(total) / actors if total else None
    rates = [float(r) for r in (own, share) if r]
    return min(rates) if rates else None


def shard_config(cfg: dict, shard: Shard, out_dir: str, cache_dir: str | None) -> DictConfig:
    """The single-file config of one shard: its input, its output in the output directory, its own cache."""
    cache = Path(cache_dir or out_dir) / f"{shard.name}.cache.sqlite"
    return OmegaConf.create({**cfg, "input": shard.path, "output": str(shard.output(out_dir)), "cache": str(cache),
                             "progress": False})


class LabelShard(ShardWorker):
    def __init__(self, out_dir: str, max_retries: int, cfg: dict):
        super().__init__(out_dir, max_retries)
        self.cfg = cfg

    def process(self, shard: Shard) -> dict[str, Any]:
        s = label_file(shard_config(self.cfg, shard, self.out_dir, self.cfg["engine"].get("cache_dir")))
        return {k: v for k, v in s.to_dict().items() if k not in ("input", "output", "errors_output")}


def label_sharded(cfg: DictConfig, *, worker: type[LabelShard] = LabelShard, worker_kwargs: dict | None = None,
                  shutdown: bool | None = None) -> LabelSummary:
    """``cfg`` (conf/label.yaml with engine=ray): label every shard of ``cfg.input`` into the directory
    ``cfg.output``; the summary (``OUTPUT.summary.json``) counts every written shard's listings, this run's calls,
    and names every shard not written."""
    if cfg.teacher.backend != "openai":
        raise TeacherError(f"scripts/label.py labels with teacher=openai; teacher={cfg.teacher.backend} reads stored labels")
    out_dir = output_dir_of(cfg.output)
    preflight(cfg.engine)  # Ray installed, the cluster reachable: before the export or any shard is read
    actors = int(cfg.engine.concurrency)
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("hydra", None)
    values["teacher"]["requests_per_minute"] = per_actor_rate(cfg, actors)
    job = run_sharded(cfg.input, out_dir, worker, {"cfg": values, **(worker_kwargs or {})}, values["engine"],
                      shutdown=shutdown)
    return _summary(cfg, out_dir, job)


def _summary(cfg: DictConfig, out_dir: Path, job) -> LabelSummary:
    written, now = job.written, job.done
    errors: Counter = Counter()
    for d in written:
        errors.update(d.get("errors") or {})
    retries: Counter = Counter()
    for d in now:
        retries.update(d.get("retries") or {})
    costs = [d.get("cost") for d in now]
    first = next(iter(written), {})
    summary = LabelSummary(
        input=str(cfg.input), output=str(out_dir), errors_output=str(out_dir / "<shard>.errors.jsonl"),
        model=first.get("model", cfg.teacher.model), prompt_version=first.get("prompt_version", ""),
        listings=job.total("listings"), rejected=job.total("rejected"), labelled=job.total("labelled"),
        from_cache=job.this_run("from_cache"), errors=dict(errors), calls=job.this_run("calls"),
        retries=dict(retries), tokens_in=job.this_run("tokens_in"), tokens_out=job.this_run("tokens_out"),
        cost=None if any(c is None for c in costs) else sum(costs), wall_s=job.wall_s)
    job.conclude(out_dir, {**summary.to_dict(),
                           "counts": "listings, labelled, errors: every written shard; calls, tokens, cost, "
                                     "from_cache: this run's shards",
                           "cache": str(Path(cfg.engine.cache_dir or out_dir) / "<shard>.cache.sqlite"),
                           "teacher": OmegaConf.to_container(cfg.teacher), "prompt": OmegaConf.to_container(cfg.prompt)})
    return summary
