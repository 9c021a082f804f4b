"""``scripts/benchmark_engines.py``: engine=local against engine=ray on the same listings (the sample repeated),
on this machine: throughput with 1 and 2 actors, the overhead of a Ray job at small sizes, and scaling on a
simulated 2-node cluster (``ray.cluster_utils.Cluster``: two Ray nodes on this one machine). Every figure is
measured here; a row says what ran it (cores, actors, CPUs each)."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from moddistill.data.records import write_jsonl
from moddistill.engines.core import ray_module, read_shard_rows
from moddistill.serving.engines import predict_sharded
from moddistill.serving.runtime import predict_file
from moddistill.settings import ExistingDir, ExistingFile, PositiveInt, Settings, Text

log = logging.getLogger(__name__)


class BenchmarkEnginesSettings(Settings):
    export_dir: ExistingDir
    listings: ExistingFile
    n: PositiveInt
    shards: PositiveInt
    small_sizes: list[PositiveInt]
    actors: list[PositiveInt]
    cluster: bool
    cluster_n: PositiveInt
    batch_size: PositiveInt
    runtime: Text
    output_dir: Text


def repeated(listings: Path, n: int) -> list[dict]:
    base = [json.loads(line) for line in listings.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{**base[i % len(base)], "id": f"{base[i % len(base)]['id']}~{i // len(base)}"} for i in range(n)]


def write_inputs(rows: list[dict], root: Path, shards: int) -> tuple[Path, Path]:
    whole = root / "all.jsonl"
    write_jsonl(whole, rows)
    d = root / "shards"
    d.mkdir(parents=True, exist_ok=True)
    per = -(-len(rows) // shards)
    for s in range(shards):
        write_jsonl(d / f"part-{s:03d}.jsonl", rows[s * per:(s + 1) * per])
    return whole, d


def _predict_cfg(cfg: DictConfig, input_path: Path, output: Path, engine: dict) -> DictConfig:
    return OmegaConf.create({"export_dir": cfg.export_dir, "input": str(input_path), "output": str(output),
                             "on_error": "raise", "allow_empty": False, "columns": {}, "batch_size": cfg.batch_size,
                             "runtime": cfg.runtime, "engine": engine})


def _engine(**changes) -> dict:
    return {"name": "ray", "address": None, "num_cpus": os.cpu_count(), "concurrency": 2, "reserve_cpus": 0.5,
            "max_retries": 2, "cache_dir": None, "requests_per_minute": None, **changes}


def run_local(cfg, whole: Path, out: Path, n: int) -> dict:
    t = time.perf_counter()
    predict_file(cfg.export_dir, whole, out, batch_size=cfg.batch_size, runtime=cfg.runtime)
    wall = time.perf_counter() - t
    return {"engine": "local", "listings": n, "wall_s": round(wall, 2), "listings_per_s": round(n / wall, 1)}


def run_ray(cfg, shards: Path, out: Path, n: int, engine: dict, label: str) -> dict:
    t = time.perf_counter()
    s = predict_sharded(_predict_cfg(cfg, shards, out, engine))
    wall = time.perf_counter() - t
    ids = [r["id"] for r in read_shard_rows(out, shards)]
    assert len(ids) == len(set(ids)) == n, (label, len(ids), len(set(ids)), n)  # 0 rows lost or duplicated
    e = s["engine"]
    return {"engine": label, "listings": n, "wall_s": round(wall, 2), "listings_per_s": round(n / wall, 1),
            "ray_startup_s": e["ray_startup_s"], "actors": e["actors"], "cpus_per_actor": e["cpus_per_actor"],
            "listings_per_s_after_startup": round(n / (wall - e["ray_startup_s"]), 1)}


def benchmark_engines(cfg: DictConfig) -> dict[str, Any]:
    ray = ray_module()
    root = Path(cfg.output_dir)
    work = root / "work"
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version(), "ray": ray.__version__},
                               "export_dir": str(cfg.export_dir), "rows": []}
    rows = repeated(Path(cfg.listings), cfg.n)
    whole, shards = write_inputs(rows, work / f"n{cfg.n}", cfg.shards)
    local = run_local(cfg, whole, work / "local.jsonl", cfg.n)
    results["rows"].append(local)
    log.info("%s", local)
    for actors in cfg.actors:
        r = run_ray(cfg, shards, work / f"ray{actors}", cfg.n, _engine(concurrency=actors), f"ray, {actors} actor(s)")
        r["vs_local"] = round(r["listings_per_s"] / local["listings_per_s"], 3)
        results["rows"].append(r)
        log.info("%s", r)
    for size in cfg.small_sizes:  # the overhead of a Ray job where engine=local is the better choice
        small = repeated(Path(cfg.listings), size)
        w, d = write_inputs(small, work / f"small{size}", min(cfg.shards, 2))
        lo = run_local(cfg, w, work / f"small{size}.jsonl", size)
        ry = run_ray(cfg, d, work / f"small{size}-ray", size, _engine(), "ray, 2 actors")
        results["rows"] += [{**lo, "size": "small"}, {**ry, "size": "small",
                                                      "overhead_s": round(ry["wall_s"] - lo["wall_s"], 2)}]
        log.info("small %d: local %s s, ray %s s", size, lo["wall_s"], ry["wall_s"])
    if cfg.cluster:
        results["cluster"] = _simulated_cluster(cfg, ray)
    root.mkdir(parents=True, exist_ok=True)
    (root / "benchmark_engines.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def _simulated_cluster(cfg, ray) -> list[dict]:
    """1 node of 1 CPU, then 2 nodes of 1 CPU each (one actor per node): throughput per added CPU."""
    from ray.cluster_utils import Cluster

    rows = repeated(Path(cfg.listings), cfg.cluster_n)
    _, shards = write_inputs(rows, Path(cfg.output_dir) / "work" / f"cluster{cfg.cluster_n}", cfg.shards)
    out = []
    for nodes in (1, 2):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        try:
            engine = _engine(address=cluster.address, concurrency=nodes, reserve_cpus=0.25 * nodes)
            r = run_ray(cfg, shards, Path(cfg.output_dir) / "work" / f"cluster-{nodes}node", cfg.cluster_n, engine,
                        f"simulated cluster, {nodes} node(s) x 1 CPU")
            r["nodes"] = nodes
            out.append(r)
            log.info("%s", r)
        finally:
            ray.shutdown()
            cluster.shutdown()
    out[1]["scaling_vs_1_node"] = round(out[1]["listings_per_s_after_startup"] / out[0]["listings_per_s_after_startup"], 3)
    return out


def markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
             f"Ray {results['machine']['ray']}; export {results['export_dir']}", "",
             "| run | listings | actors x CPUs | wall s | listings/s | listings/s after Ray start | vs local |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in results["rows"] + results.get("cluster", []):
        ac = f"{r['actors']} x {r['cpus_per_actor']}" if "actors" in r else "1 process"
        lines.append(f"| {r['engine']} | {r['listings']:,} | {ac} | {r['wall_s']} | {r['listings_per_s']} | "
                     f"{r.get('listings_per_s_after_startup', '')} | {r.get('vs_local', r.get('scaling_vs_1_node', ''))} |")
    return "\n".join(lines)
