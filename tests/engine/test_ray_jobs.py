"""predict, label and moderate with engine=ray on a local Ray (2 CPUs) equal engine=local, survive a killed actor
without losing, duplicating or paying twice for more than the requests in flight, and name bad shards."""

import itertools
import json
import socket

import pytest

from moddistill.data.records import RowError
from moddistill.engines.core import ShardsFailed, read_shard_rows, summary_path
from moddistill.export.directory import export_run
from moddistill.serving.manifest import verify_export
from moddistill.serving.runtime import predict_file
from tests.conftest import SAMPLE_LISTINGS, compose_config, read_jsonl, write_jsonl
from tests.engine.workers import DyingLabelShard, DyingPredictShard
from tests.fake_openai import FakeOpenAI
from tests.fusion.test_fusion import fused_export  # noqa: F401 - the fusion tests' export with rules, as a fixture
from tests.teacher.test_label_faults import FAST

RAY = ["engine=ray", "engine.concurrency=2", "engine.max_retries=1"]
# the label tests' fast retries, with a timeout a busy 2-core machine running Ray actors always meets
FAST_RAY = [o for o in FAST if not o.startswith("teacher.timeout_s=")] + ["teacher.timeout_s=10"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def export(tiny_run, tmp_path_factory):
    return export_run(tiny_run, tmp_path_factory.mktemp("export") / "model", allow_collapsed=True)


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """1,000 sample listings: one file, and the same rows as 4 shards (3 JSONL, 1 Parquet), cut at multiples of
    the batch size so each batch holds the same listings as engine=local's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("thousand")
    rows = read_jsonl(SAMPLE_LISTINGS)[:1000]
    whole = write_jsonl(root / "all.jsonl", rows)
    d = root / "shards"
    d.mkdir()
    cuts = [0, 256, 512, 768, 1000]
    for s, (a, b) in enumerate(itertools.pairwise(cuts)):
        if s == 2:
            pq.write_table(pa.Table.from_pylist(rows[a:b]), d / f"part-{s}.parquet")
        else:
            write_jsonl(d / f"part-{s}.jsonl", rows[a:b])
    return whole, d


def predict_cfg(export, input_path, output, *extra):
    return compose_config("predict", [f"export_dir={export}", f"input={input_path}", f"output={output}",
                                      "batch_size=64", *extra])


@pytest.mark.parametrize("runtime", ["onnx", "onnx_int8"])
def test_predict_with_ray_equals_local_row_for_row(ray_session, export, thousand, tmp_path, runtime):
    """Each shard's rows are engine=local's on that shard, exactly. Against engine=local on the whole file: a score
    depends on its batch-mates (batches are cut by token count over the whole input, and int8 quantizes each
    batch's activations with the batch's own scale), so fp32 scores agree to the 6-decimal rounding with the same
    flags, and int8 scores to the quantization step (< 0.01), flags differing only that close to a threshold."""
    from moddistill.serving.engines import predict_sharded

    whole, shards = thousand
    summary = predict_sharded(predict_cfg(export, shards, tmp_path / "ray", *RAY, f"runtime={runtime}"))
    assert summary["rows"] == 1000 and summary["shards"] == 4 and summary["shards_failed"] == 0
    assert json.loads(summary_path(tmp_path / "ray").read_text())["rows"] == 1000
    for shard in sorted(shards.iterdir()):
        predict_file(export, shard, tmp_path / f"{shard.stem}.local.jsonl", batch_size=64, runtime=runtime)
        assert read_jsonl(tmp_path / "ray" / f"{shard.stem}.jsonl") == read_jsonl(tmp_path / f"{shard.stem}.local.jsonl")

    predict_file(export, whole, tmp_path / "local.jsonl", batch_size=64, runtime=runtime)
    local = {r["id"]: r for r in read_jsonl(tmp_path / "local.jsonl")}
    remote = read_shard_rows(tmp_path / "ray", shards)
    assert [r["id"] for r in remote] == list(local)  # shard by shard, in input order: row for row
    assert summary["flagged"] == {p: sum(p in r["flagged"] for r in remote) for p in summary["flagged"]}
    thresholds = verify_export(export)["thresholds"]
    tolerance = 1.01e-6 if runtime == "onnx" else 0.01
    for r in remote:
        mine = local[r["id"]]
        assert max(abs(s - mine["scores"][p]) for p, s in r["scores"].items()) <= tolerance, r["id"]
        for p, s in mine["scores"].items():
            if abs(s - thresholds[p]) > tolerance:  # clear of its threshold: the same decision
                assert (p in r["flagged"]) == (p in mine["flagged"]), (r["id"], p)
    if runtime == "onnx":
        assert [r["flagged"] for r in remote] == [r["flagged"] for r in local.values()]


def test_predict_survives_a_killed_actor_and_a_rerun_writes_nothing(ray_session, export, thousand, tmp_path):
    from moddistill.serving.engines import predict_sharded

    _, shards = thousand
    cfg = predict_cfg(export, shards, tmp_path / "ray", *RAY)
    summary = predict_sharded(cfg, worker=DyingPredictShard,
                              worker_kwargs={"die_at": "part-1", "marker": str(tmp_path / "died")})
    assert (tmp_path / "died").exists() and summary["shards_failed"] == 0
    ids = [r["id"] for r in read_shard_rows(tmp_path / "ray", shards)]
    assert len(ids) == len(set(ids)) == 1000  # 0 rows lost or duplicated
    again = predict_sharded(cfg)
    assert again["shards_skipped"] == 4 and again["shards_written_now"] == 0 and again["rows"] == 1000


def test_a_bad_row_or_an_unreadable_shard_is_named_and_the_others_are_written(ray_session, export, thousand,
                                                                               tmp_path):
    from moddistill.serving.engines import predict_sharded

    _, shards = thousand
    d = tmp_path / "in"
    d.mkdir()
    rows = read_jsonl(shards / "part-0.jsonl")
    write_jsonl(d / "a.jsonl", rows[:50])
    write_jsonl(d / "b.jsonl", rows[50:60] + [{**rows[60], "price": "ask me"}])
    (d / "c.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ShardsFailed, match=r"2 of 3 shard\(s\) not written \(b, c\); b: .*b\.jsonl, line 11"):
        predict_sharded(predict_cfg(export, d, tmp_path / "out", *RAY))
    summary = json.loads(summary_path(tmp_path / "out").read_text())
    failed = {f["shard"]: f["error"] for f in summary["failed_shards"]}
    assert "price" in failed["b"] and "c.parquet" in failed["c"] and "not a readable Parquet file" in failed["c"]
    assert summary["rows"] == 50 and summary["shards_failed"] == 2
    with pytest.raises(RowError, match=r"b\.jsonl, line 11"):  # engine=local names the same row
        predict_file(export, d / "b.jsonl", tmp_path / "local.jsonl")
    (d / "c.parquet").unlink()
    skipped = predict_sharded(predict_cfg(export, d, tmp_path / "out", *RAY, "on_error=skip"))  # a rerun: b only
    assert (skipped["shards_skipped"], skipped["shards_written_now"], skipped["rows"]) == (1, 1, 60)
    assert skipped["rejected"] == 1 and read_jsonl(tmp_path / "out" / "b.rejects.jsonl")[0]["field"] == "price"


def label_cfg(tmp_path, url, input_path, *extra):
    return compose_config("label", [f"input={input_path}", f"output={tmp_path / 'labels'}", f"teacher.base_url={url}",
                                    "teacher.model=fake", *FAST_RAY, *RAY, *extra])


def listing_shards(root, n_shards, per_shard):
    d = root / "listings"
    for s in range(n_shards):
        write_jsonl(d / f"part-{s}.jsonl", [
            {"id": f"{s}-{i}", "title": f"{'weapons' if i % 2 else 'plain'} {s}-{i}", "description": "as pictured",
             "category": "Misc > Other", "price": 10, "currency": "USD", "market": "US", "language": "en"}
            for i in range(per_shard)])
    return d


def test_label_survives_a_killed_worker_repaying_at_most_the_requests_in_flight(ray_session, policy, tmp_path):
    from moddistill.teacher.sharded import label_sharded

    d = listing_shards(tmp_path, 3, 12)
    concurrency = 3
    with FakeOpenAI(policy.ids, delay_s=0.05) as fake:
        cfg = label_cfg(tmp_path, fake.url, d, f"teacher.concurrency={concurrency}")
        summary = label_sharded(cfg, worker=DyingLabelShard,
                                worker_kwargs={"after": 5, "marker": str(tmp_path / "died")})
        first_run = fake.listing_requests()
    assert (tmp_path / "died").exists()
    labels = read_shard_rows(tmp_path / "labels", d)
    assert sorted(r["id"] for r in labels) == sorted(f"{s}-{i}" for s in range(3) for i in range(12))
    assert summary.listings == summary.labelled == 36 and not summary.errors
    repaid = first_run - 36  # one request per listing (samples=1, no faults): the excess was paid twice
    assert 0 <= repaid <= concurrency, (first_run, fake.counts)
    assert {r["id"]: sorted(k for k, v in r["labels"].items() if v >= 0.5) for r in labels}["0-1"] == ["weapons"]

    with FakeOpenAI(policy.ids) as fake:  # a rerun: every shard is written, no call
        again = label_sharded(label_cfg(tmp_path, fake.url, d))
        assert fake.listing_requests() == 0 and sum(fake.counts.values()) == 0
    assert again.calls == 0 and again.labelled == 36
    for p in (tmp_path / "labels").glob("*.done.json"):  # outputs gone, caches kept: rebuilt from the caches
        p.unlink()
    with FakeOpenAI(policy.ids) as fake:
        rebuilt = label_sharded(label_cfg(tmp_path, fake.url, d))
        assert fake.listing_requests() == 0
    assert rebuilt.calls == 0 and rebuilt.from_cache == 36 and rebuilt.labelled == 36
    assert sorted(p.name for p in (tmp_path / "labels").glob("*.cache.sqlite")) == [
        "part-0.cache.sqlite", "part-1.cache.sqlite", "part-2.cache.sqlite"]


def test_label_rate_is_shared_between_the_actors(policy):
    from moddistill.teacher.sharded import per_actor_rate

    cfg = compose_config("label", ["input=x", "output=y", "teacher.model=m", "engine=ray",
                                   "engine.requests_per_minute=600", "engine.concurrency=4"])
    assert per_actor_rate(cfg, 4) == 150
    cfg.teacher.requests_per_minute = 100
    assert per_actor_rate(cfg, 4) == 100
    cfg.engine.requests_per_minute = None
    assert per_actor_rate(cfg, 4) == 100


def test_moderate_with_ray_decides_as_the_local_run(ray_session, fused_export, sample_slice, policy,  # noqa: F811
                                                     tmp_path):
    from moddistill.fusion.moderate import moderate_file
    from moddistill.fusion.sharded import moderate_sharded

    export = fused_export[0]
    cases = read_jsonl(sample_slice["cases"])
    d = tmp_path / "cases"
    for s in range(3):
        write_jsonl(d / f"part-{s}.jsonl", cases[s * 20:(s + 1) * 20])
    # fp32: the student's scores do not depend on their batch-mates (int8's do, by its quantization step: a
    # listing at a routing band's edge may route otherwise in another batch, under engine=local too)
    common = [f"export_dir={export}", "teacher.model=fake", "runtime=onnx", *FAST_RAY]
    with FakeOpenAI(policy.ids) as fake:
        local = moderate_file(compose_config("moderate", [*common, f"teacher.base_url={fake.url}",
                                                          f"input={sample_slice['cases']}",
                                                          f"output={tmp_path / 'local.jsonl'}",
                                                          f"cache={tmp_path / 'local.sqlite'}"]))
        asked_locally = fake.listing_requests()
        remote = moderate_sharded(compose_config("moderate", [*common, f"teacher.base_url={fake.url}", f"input={d}",
                                                              f"output={tmp_path / 'ray'}", *RAY]))
        asked_by_ray = fake.listing_requests() - asked_locally
    assert remote["decided_by"] == local["decided_by"] and remote["listings"] == local["listings"] == 60
    assert 0 < local["decided_by"]["llm"] and asked_by_ray == asked_locally == local["routed_to_llm"]
    assert remote["routed_to_llm"] == local["routed_to_llm"]
    rows = {r["id"]: r for r in read_shard_rows(tmp_path / "ray", d)}
    local_rows = {r["id"]: r for r in read_jsonl(tmp_path / "local.jsonl")}
    assert {i: (r["decided_by"], r["flagged"]) for i, r in rows.items()} == {
        i: (r["decided_by"], r["flagged"]) for i, r in local_rows.items()}
