"""engines/core.py: shards, resume, retries and accounting, on a local Ray with 2 CPUs (a copy worker: no model)."""

import json
import subprocess
import sys

import pytest

from moddistill.engines.core import (
    ShardsFailed,
    discover_shards,
    read_shard_rows,
    refuse_directory_for_local,
    run_sharded,
)
from moddistill.errors import UserError
from tests.conftest import ROOT, read_jsonl, write_jsonl
from tests.engine.workers import CopyShard

ENGINE = {"name": "ray", "address": None, "num_cpus": 2, "concurrency": 2, "reserve_cpus": 0.5, "max_retries": 1,
          "cache_dir": None, "requests_per_minute": None}


def shards_dir(root, n=4, rows=25):
    d = root / "in"
    for s in range(n):
        write_jsonl(d / f"part-{s:02d}.jsonl", [{"id": f"{s}-{i}", "v": i} for i in range(rows)])
    return d


def test_shards_are_the_file_or_the_directory_s_shard_files_and_nothing_else(tmp_path):
    d = shards_dir(tmp_path, 2)
    (d / "_SUCCESS").write_text("")
    assert [s.name for s in discover_shards(d)] == ["part-00", "part-01"]
    assert [s.name for s in discover_shards(d / "part-01.jsonl")] == ["part-01"]
    (d / "notes.csv").write_text("a,b\n")
    with pytest.raises(UserError, match=r"in/notes\.csv: not a shard"):
        discover_shards(d)
    (d / "notes.csv").unlink()
    (d / "part-00.parquet").write_bytes(b"PAR1")
    with pytest.raises(UserError, match=r"two shards named 'part-00'"):
        discover_shards(d)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no shards"):
        discover_shards(tmp_path / "empty")
    with pytest.raises(UserError, match="engine=local reads one file; pass engine=ray"):
        refuse_directory_for_local(d)


def test_every_shard_is_written_once_and_a_rerun_skips_them(ray_session, tmp_path):
    d = shards_dir(tmp_path)
    out = tmp_path / "out"
    job = run_sharded(d, out, CopyShard, {}, ENGINE)
    assert (len(job.done), len(job.skipped), job.failed) == (4, 0, [])
    ids = [r["id"] for r in read_shard_rows(out, d)]
    assert sorted(ids) == sorted(f"{s}-{i}" for s in range(4) for i in range(25)) and len(set(ids)) == 100
    assert job.engine["actors"] == 2 and job.engine["cpus_per_actor"] == 0.75  # (2 CPUs - 0.5 reserved) / 2
    assert len({d["pid"] for d in job.done}) <= 2  # each shard done once, by one of the two actors
    (out / "part-02.done.json").unlink()  # as if the job had been killed before this shard was done
    again = run_sharded(d, out, CopyShard, {}, ENGINE)
    assert [x["shard"] for x in again.done] == ["part-02"] and len(again.skipped) == 3
    assert len(read_shard_rows(out, d)) == 100


def test_an_actor_killed_mid_shard_is_restarted_and_no_row_is_lost_or_duplicated(ray_session, tmp_path):
    d = shards_dir(tmp_path, 6)
    out = tmp_path / "out"
    job = run_sharded(d, out, CopyShard, {"die_at": "part-03", "marker": str(tmp_path / "died")}, ENGINE)
    assert (tmp_path / "died").exists() and job.failed == []
    assert len(job.done) == 6
    ids = [r["id"] for r in read_shard_rows(out, d)]
    assert len(ids) == len(set(ids)) == 150  # the half-written temporary file never became the shard
    assert len((out / "part-03.attempts").read_text().split()) == 2  # the killed attempt, then the retry


def test_a_shard_that_keeps_failing_is_named_counted_and_redone_alone_by_a_rerun(ray_session, tmp_path):
    d = shards_dir(tmp_path, 3)
    out = tmp_path / "out"
    job = run_sharded(d, out, CopyShard, {"poison": ["part-01"]}, ENGINE)
    assert [f["shard"] for f in job.failed] == ["part-01"] and "cannot process part-01" in job.failed[0]["error"]
    assert len((out / "part-01.attempts").read_text().split()) == 2  # max_retries=1: tried twice
    assert job.to_dict()["shards_failed"] == 1 and len(job.done) == 2
    with pytest.raises(ShardsFailed, match=r"1 of 3 shard\(s\) not written \(part-01\); part-01: RuntimeError"):
        job.raise_failures(tmp_path / "summary.json")
    fixed = run_sharded(d, out, CopyShard, {}, ENGINE)
    assert [x["shard"] for x in fixed.done] == ["part-01"] and fixed.failed == []
    assert len(read_shard_rows(out, d)) == 75


def test_an_unreachable_cluster_is_one_line_and_exit_2_before_any_work(tmp_path):
    from tests.engine.test_ray_jobs import free_port

    d = shards_dir(tmp_path, 1)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"), f"export_dir={ROOT / 'conf'}",
                             f"input={d}", f"output={out}", "engine=ray",
                             f"engine.address=ray://127.0.0.1:{free_port()}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert "engine.address=ray://127.0.0.1:" in result.stderr and "cannot reach the Ray cluster" in result.stderr
    assert not out.exists()


def test_the_summary_lists_the_failed_shard(ray_session, tmp_path):
    d = shards_dir(tmp_path, 2)
    job = run_sharded(d, tmp_path / "out", CopyShard, {"poison": ["part-00"]}, {**ENGINE, "max_retries": 0})
    summary = job.to_dict()
    assert summary["failed_shards"][0]["shard"] == "part-00" and summary["shards_written_now"] == 1
    json.dumps(summary)
    assert read_jsonl(tmp_path / "out" / "part-01.jsonl")[0]["id"] == "1-0"


CLUSTER_JOB = """
import json, sys
import ray
from ray import cloudpickle
from ray.cluster_utils import Cluster
from moddistill.engines.core import run_sharded, read_shard_rows
from tests.engine import workers
cloudpickle.register_pickle_by_value(workers)
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, log_to_driver=False)
engine = {"address": cluster.address, "concurrency": 2, "reserve_cpus": 0.5, "max_retries": 1}
job = run_sharded(sys.argv[1], sys.argv[2], workers.CopyShard, {"meet": 2}, engine)
print(json.dumps({"nodes": len({d["node"] for d in job.done}), "failed": len(job.failed),
                  "rows": len(read_shard_rows(sys.argv[2], sys.argv[1])), "alive": len(ray.nodes())}))
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_a_simulated_two_node_cluster_runs_the_shards_on_both_nodes(tmp_path):
    """ray.cluster_utils.Cluster: two Ray nodes of 1 CPU each on this machine; one actor per node (0.75 CPU each)."""
    pytest.importorskip("ray")
    d = shards_dir(tmp_path, 6)
    result = subprocess.run([sys.executable, "-c", CLUSTER_JOB, str(d), str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"nodes": 2, "failed": 0, "rows": 150, "alive": 2}
