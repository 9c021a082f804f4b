"""A job over shards: discover them, skip those already written, map a worker class over the rest as a Ray Data
job (``map_batches`` with a callable class: an actor pool, each actor built once), and account for every shard.

- Input: one file, or a directory of ``.jsonl``/``.ndjson``/``.parquet`` shards. Each shard is read by the
  project's own reader inside the worker, so a bad row is named by shard and line exactly as ``engine=local``
  names it; any other file in the directory is refused up front, by name.
- Output: a directory with, per input shard ``S``, ``S.jsonl`` (the rows) and ``S.done.json`` (the shard's
  counts), both written through a temporary file and a rename, the ``.done.json`` last: a shard is written when
  its ``.done.json`` exists, and a rerun skips it. A killed job loses at most the shards in progress.
- Failures: a worker that raises on a shard retries it ``max_retries`` times in place; an actor that dies is
  restarted by Ray and its shard retried as often. A bad input (a ``UserError``: a bad row, a refused server)
  is not retried. A shard that still fails is returned with its reason; the caller counts it in the job's
  summary and exits non-zero, never dropping its rows silently.
- Cluster: ``address=null`` starts Ray in this process with ``num_cpus`` CPUs; ``auto`` or ``ray://host:port``
  joins one, after checking the address answers (an unreachable one is a one-line error before any work).
  Actors ask for ``(CPUs - reserve_cpus) / concurrency`` CPUs each so Ray Data's own tasks always have a CPU.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from moddistill.data.records import write_text_atomic
from moddistill.errors import UserError

log = logging.getLogger(__name__)

SHARD_SUFFIXES = (".jsonl", ".ndjson", ".parquet")
DONE = ".done.json"


@dataclass(frozen=True)
class Shard:
    name: str  # the input file's stem: names every output of the shard
    path: str

    def output(self, out_dir: str | Path, suffix: str = ".jsonl") -> Path:
        return Path(out_dir) / f"{self.name}{suffix}"


def discover_shards(input_path: str | Path) -> list[Shard]:
    """The shards of ``input_path``: the file itself, or every shard file of the directory, sorted by name."""
    path = Path(input_path)
    if path.is_file():
        return [Shard(path.stem, str(path.resolve()))]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    shards, stems = [], {}
    for p in sorted(path.iterdir()):
        if p.name.startswith((".", "_")) or p.is_dir():
            continue  # hidden files, _SUCCESS markers and the like
        if p.suffix.lower() not in SHARD_SUFFIXES:
            raise UserError(f"{p}: not a shard (a shard directory holds {', '.join(SHARD_SUFFIXES)} files only)")
        if p.stem in stems:
            raise UserError(f"{p}: two shards named {p.stem!r} ({stems[p.stem].name} too): their outputs would collide")
        stems[p.stem] = p
        shards.append(Shard(p.stem, str(p.resolve())))
    if not shards:
        raise UserError(f"{path}: no shards (.jsonl or .parquet files) in this directory")
    return shards


def done_path(out_dir: str | Path, shard: Shard) -> Path:
    return shard.output(out_dir, DONE)


def read_done(out_dir: str | Path, shard: Shard) -> dict | None:
    p = done_path(out_dir, shard)
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


class ShardWorker:
    """The callable class Ray Data builds once per actor. Subclasses load what they need in ``__init__`` and do
    one shard in ``process`` (writing its outputs atomically and returning its counts); this class retries,
    records the shard as done, and turns a failure into a named result instead of a lost shard."""

    def __init__(self, out_dir: str, max_retries: int = 2):
        self.out_dir, self.max_retries = out_dir, max_retries

    def process(self, shard: Shard) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list]:
        results = []
        for name, path in zip(batch["name"], batch["path"]):
            results.append(json.dumps(self.run_one(Shard(str(name), str(path)))))
        return {"result": results}

    def run_one(self, shard: Shard) -> dict[str, Any]:
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                counts = self.process(shard)
            except UserError as e:  # a bad row, a refused server: retrying cannot help
                return {"shard": shard.name, "path": shard.path, "failed": "bad_input", "error": str(e)}
            except Exception as e:  # noqa: BLE001 - any other failure is retried, then reported by name
                if attempt < self.max_retries:
                    attempt += 1
                    log.warning("shard %s failed (%s: %s), retry %d of %d", shard.name, type(e).__name__, e,
                                attempt, self.max_retries)
                    continue
                return {"shard": shard.name, "path": shard.path, "failed": "error", "attempts": attempt + 1,
                        "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=5)}
            done = {"shard": shard.name, "path": shard.path, "bytes": os.path.getsize(shard.path),
                    "attempts": attempt + 1,
                    "seconds": round(time.perf_counter() - started, 3), "pid": os.getpid(), **counts}
            write_text_atomic(done_path(self.out_dir, shard), json.dumps(done))  # last: the shard is now written
            return done


@dataclass
class JobResult:
    shards: int  # every shard of the input
    skipped: list[dict]  # written by an earlier run (their stored counts)
    done: list[dict]  # written by this run
    failed: list[dict]  # not written: {"shard", "failed", "error"}
    wall_s: float
    engine: dict

    @property
    def written(self) -> list[dict]:
        """Every shard's counts, earlier runs' and this one's, in shard-name order."""
        return sorted(self.skipped + self.done, key=lambda d: d["shard"])

    def total(self, key: str) -> int:
        return sum(int(d.get(key) or 0) for d in self.written)

    def this_run(self, key: str) -> int:
        return sum(int(d.get(key) or 0) for d in self.done)

    def to_dict(self) -> dict[str, Any]:
        return {"shards": self.shards, "shards_written_now": len(self.done), "shards_skipped": len(self.skipped),
                "shards_failed": len(self.failed),
                "failed_shards": [{k: f[k] for k in ("shard", "path", "failed", "error") if k in f}
                                  for f in self.failed],
                "engine": self.engine, "wall_s": round(self.wall_s, 3)}

    def conclude(self, out_dir: str | Path, summary: dict[str, Any]) -> dict[str, Any]:
        """The job's summary (the caller's figures, then the shard accounting) written to OUTPUT.summary.json; a
        failed shard then ends the job as an error naming that file. Returns what was written."""
        summary = {**summary, **self.to_dict()}
        path = summary_path(out_dir)
        write_text_atomic(path, json.dumps(summary, indent=2, default=str))
        self.raise_failures(path)
        return summary

    def raise_failures(self, summary_path: str | Path) -> None:
        """A job with a failed shard ends as an error naming it (the summary, already written, counts it)."""
        if not self.failed:
            return
        first = self.failed[0]
        raise ShardsFailed(f"{len(self.failed)} of {self.shards} shard(s) not written ("
                           + ", ".join(f["shard"] for f in self.failed[:5]) + ("..." if len(self.failed) > 5 else "")
                           + f"); {first['shard']}: {first['error']}; see {summary_path}; "
                           "a rerun redoes only these")


class ShardsFailed(UserError):
    """Some shards were not written; the others were, and a rerun skips them."""


def actor_threads() -> int | None:
    """Threads this actor's compute may use: its CPU share, rounded, at least 1 (None outside a Ray actor). An ONNX
    or torch session otherwise takes every core of the node, and N actors oversubscribe it N times."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    return max(1, round(cpus)) if cpus else None


def ray_module():
    try:
        import ray
    except ImportError:
        raise UserError("engine=ray needs Ray: pip install 'moddistill[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """An unreachable cluster is a one-line error before any work (ray.init would wait and then raise at length)."""
    if address == "auto":
        if os.environ.get("RAY_ADDRESS", "auto") != "auto":
            return _check_reachable(os.environ["RAY_ADDRESS"])
        if not Path("/tmp/ray/ray_current_cluster").exists():
            raise UserError("engine.address=auto: no Ray cluster on this machine (start one with `ray start --head`, "
                            "set RAY_ADDRESS, or pass engine.address=null to start one in this process)")
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise UserError(f"engine.address={address}: expected null, auto, ray://HOST:PORT or HOST:PORT")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=5):
            pass
    except OSError as e:
        raise UserError(f"engine.address={address}: cannot reach the Ray cluster ({e.strerror or e})") from None


def preflight(engine: Mapping[str, Any]) -> None:
    """Before any work: Ray is installed, and a cluster address given answers."""
    ray = ray_module()
    if engine.get("address") and not ray.is_initialized():
        _check_reachable(str(engine["address"]))


def connect(engine: Mapping[str, Any]) -> tuple[Any, bool]:
    """Ray, initialised for ``engine``: (the ray module, whether this call started it)."""
    ray = ray_module()
    if ray.is_initialized():  # a cluster this process already joined (a test session's, a notebook's)
        return ray, False
    address = engine.get("address")
    if address:
        _check_reachable(str(address))
        try:
            ray.init(address=str(address), log_to_driver=False)
        except Exception as e:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, TimeoutError...
            raise UserError(f"engine.address={address}: cannot join the Ray cluster ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from None
    else:
        ray.init(num_cpus=engine.get("num_cpus") or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    return ray, True


def actor_cpus(ray, engine: Mapping[str, Any]) -> tuple[int, float]:
    """(actors, CPUs each): the cluster's CPUs less ``reserve_cpus``, shared by ``concurrency`` actors."""
    total = float(ray.cluster_resources().get("CPU", 1))
    actors = int(engine.get("concurrency") or 1)
    free = max(total - float(engine.get("reserve_cpus") or 0), 0.25)
    return actors, max(round(free / actors, 3), 0.01)


def run_sharded(input_path: str | Path, out_dir: str | Path, worker: type[ShardWorker], worker_kwargs: dict,
                engine: Mapping[str, Any], *, shutdown: bool | None = None) -> JobResult:
    """Every shard of ``input_path`` not yet written to ``out_dir``, through ``worker`` actors (a Ray Data job)."""
    started = time.perf_counter()
    shards = discover_shards(input_path)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output={out_dir}: engine=ray writes a directory of shards; this is a file")
    skipped, pending = [], []
    for s in shards:
        done = read_done(out_dir, s)
        if done is not None and (done.get("path"), done.get("bytes")) != (s.path, os.path.getsize(s.path)):
            raise UserError(f"output={out_dir}: shard {s.name} there was written from {done.get('path')} "
                            f"({done.get('bytes')} bytes), not {s.path} ({os.path.getsize(s.path)} bytes): "
                            "a rerun resumes the same input; use a new output directory for another")
        (skipped if done is not None else pending).append(done or s)
    engine = dict(engine)
    t = time.perf_counter()
    ray, started_here = connect(engine)  # before any work: an unreachable cluster stops the job here
    startup_s = time.perf_counter() - t
    done, failed = [], []
    actors, cpus = actor_cpus(ray, engine)
    actors = min(actors, max(len(pending), 1))
    try:
        if pending:
            out_dir.mkdir(parents=True, exist_ok=True)
            done, failed = _map(ray, pending, out_dir, worker, worker_kwargs, engine, actors, cpus)
    finally:
        if shutdown or (shutdown is None and started_here):
            ray.shutdown()
    return JobResult(len(shards), skipped, done, failed, time.perf_counter() - started,
                     {"name": "ray", "address": engine.get("address"), "actors": actors, "cpus_per_actor": cpus,
                      "max_retries": engine.get("max_retries"), "ray_started_here": started_here,
                      "ray_startup_s": round(startup_s, 3)})


def _map(ray, pending: list[Shard], out_dir: Path, worker: type[ShardWorker], worker_kwargs: dict,
         engine: dict, actors: int, cpus: float) -> tuple[list[dict], list[dict]]:
    retries = int(engine.get("max_retries") or 0)
    ds = ray.data.from_items([{"name": s.name, "path": s.path} for s in pending], override_num_blocks=len(pending))
    mapped = ds.map_batches(worker, batch_size=1, concurrency=actors, num_cpus=cpus,
                            fn_constructor_kwargs={"out_dir": str(out_dir), "max_retries": retries, **worker_kwargs},
                            max_restarts=retries, max_task_retries=retries)
    results: list[dict] = []
    try:
        results = [json.loads(r["result"]) for r in mapped.take_all()]
    except Exception as e:
        if isinstance(e, UserError):
            raise
        log.error("the Ray job stopped: %s: %s", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        reason = f"the Ray job stopped ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]})"
        for s in pending:
            d = read_done(out_dir, s)
            results.append(d if d is not None else {"shard": s.name, "path": s.path, "failed": "error",
                                                    "error": reason})
    done = [r for r in results if "failed" not in r]
    failed = [r for r in results if "failed" in r]
    seen = {r["shard"] for r in results}
    for s in pending:  # a shard no result names is failed, never silently dropped
        if s.name not in seen:
            failed.append({"shard": s.name, "path": s.path, "failed": "error", "error": "no result came back"})
    return done, failed


def output_dir_of(output: str | Path) -> Path:
    """engine=ray's output: a directory (a trailing .jsonl is refused so nobody mistakes it for a file)."""
    out = Path(output)
    if out.suffix in (".jsonl", ".ndjson", ".json", ".parquet"):
        raise UserError(f"output={out}: engine=ray writes a directory of shards (one .jsonl per input shard); "
                        f"pass a directory path such as output={out.with_suffix('')}")
    return out


def summary_path(out_dir: str | Path) -> Path:
    """OUTPUT.summary.json beside the output directory, named as engine=local names it beside its output file."""
    out = Path(out_dir)
    return out.with_name(out.name + ".summary.json")


def refuse_directory_for_local(input_path: str | Path) -> None:
    if Path(input_path).is_dir():
        raise UserError(f"input={input_path} is a directory: engine=local reads one file; pass engine=ray to run "
                        "over a directory of shards")


def read_shard_rows(out_dir: str | Path, input_path: str | Path) -> list[dict]:
    """Every row engine=ray wrote for ``input_path``'s shards, shard by shard (for tests and small outputs)."""
    rows = []
    for s in discover_shards(input_path):
        p = s.output(out_dir)
        if p.exists():
            rows += [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows
