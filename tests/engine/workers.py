"""Shard workers for the engine tests, shipped to Ray actors by value (``conftest.py`` registers this module with
cloudpickle), so the actors need not import ``tests``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from moddistill.engines.core import Shard, ShardWorker
from moddistill.serving.engines import PredictShard
from moddistill.teacher.sharded import LabelShard


def die_once(marker: str) -> None:
    """Kill this process, unless another already did (the marker): one death per job, whatever the actors."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)


class CopyShard(ShardWorker):
    """Copies a JSONL shard's rows; ``poison`` names shards that always raise; ``die_at`` the shard on which
    the actor kills itself once (after writing half the shard's rows to a temporary file, as a crash would);
    ``meet`` holds each actor's first shard until that many actors have started one (at most a minute), so on a
    loaded machine the first actor up cannot copy every shard before the others start."""

    def __init__(self, out_dir, max_retries, poison=(), die_at=None, marker=None, meet=0):
        super().__init__(out_dir, max_retries)
        self.poison, self.die_at, self.marker, self.meet = set(poison), die_at, marker, meet

    def process(self, shard: Shard):
        attempts = Path(self.out_dir) / f"{shard.name}.attempts"
        with attempts.open("a") as f:
            f.write(f"{os.getpid()}\n")
        if self.meet:
            started = Path(self.out_dir) / "started"
            started.mkdir(exist_ok=True)
            (started / str(os.getpid())).touch()
            deadline = time.monotonic() + 60
            while len(list(started.iterdir())) < self.meet and time.monotonic() < deadline:
                time.sleep(0.2)
        if shard.name in self.poison:
            raise RuntimeError(f"cannot process {shard.name}")
        rows = [json.loads(line) for line in Path(shard.path).read_text().splitlines() if line.strip()]
        out = shard.output(self.out_dir)
        if shard.name == self.die_at:
            out.with_name(out.name + ".tmp").write_text("\n".join(json.dumps(r) for r in rows[: len(rows) // 2]))
            die_once(self.marker)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tmp.replace(out)
        import ray

        return {"rows": len(rows), "node": ray.get_runtime_context().get_node_id()}


class DyingPredictShard(PredictShard):
    """PredictShard whose actor dies once, on shard ``die_at``, before writing it."""

    def __init__(self, out_dir, max_retries, die_at, marker, **kwargs):
        super().__init__(out_dir, max_retries, **kwargs)
        self.die_at, self.marker = die_at, marker

    def process(self, shard: Shard):
        if shard.name == self.die_at:
            die_once(self.marker)
        return super().process(shard)


class DyingLabelShard(LabelShard):
    """LabelShard whose actor dies once, when its ``after``+1-th listing request starts (its other requests still in
    flight): the answers that arrived are in the shard's cache, those in flight are lost with the process."""

    def __init__(self, out_dir, max_retries, cfg, after, marker):
        super().__init__(out_dir, max_retries, cfg)
        from moddistill.teacher.openai_backend import OpenAIBackend

        original, started = OpenAIBackend.complete, [0]

        async def complete(backend, body, *args, **kwargs):
            if not kwargs.get("preflight"):
                started[0] += 1
                if started[0] > after:
                    die_once(marker)
            return await original(backend, body, *args, **kwargs)

        OpenAIBackend.complete = complete  # this actor's process only
