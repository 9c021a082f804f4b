"""Labelling against the loopback fake server: retries, error rows, exact request counts, the cache."""

import asyncio
import json

import pytest

from moddistill.data.listings import read_listings
from moddistill.teacher.cache import RequestCache, request_key
from moddistill.teacher.labeling import label_file
from moddistill.teacher.openai_backend import RateLimiter
from moddistill.teacher.replay import replay_teacher
from tests.conftest import compose_config, read_jsonl, write_jsonl
from tests.fake_openai import FakeOpenAI

FAST = ["teacher.timeout_s=0.5", "teacher.backoff_base_s=0.01", "teacher.backoff_max_s=0.05", "progress=false"]


def listings_file(path, titles):
    return write_jsonl(path, [{"id": f"id-{i}", "title": t, "description": "as pictured", "category": "Misc > Other",
                               "price": 10, "currency": "USD", "market": "US", "language": "en"}
                              for i, t in enumerate(titles)])


def label(tmp_path, fake, titles, *overrides, name="labels"):
    src = listings_file(tmp_path / "in.jsonl", titles)
    out = tmp_path / f"{name}.jsonl"
    cfg = compose_config("label", [f"input={src}", f"output={out}", f"cache={tmp_path / 'cache.sqlite'}",
                                   f"teacher.base_url={fake.url}", "teacher.model=fake", *FAST, *overrides])
    summary = label_file(cfg)
    return summary, {r["id"]: r for r in read_jsonl(out)}, {r["id"]: r for r in read_jsonl(out.with_name(f"{name}.errors.jsonl"))}


def test_faults_are_retried_or_become_error_rows_with_exact_request_counts(tmp_path, policy):
    faults = {"rate 1": ["429"], "crash 2": ["500", "500"], "slow 3": ["slow"], "garbled 4": ["malformed"] * 3,
              "firearms 5": ["unknown_policy"] * 3, "cut 6": ["truncated"] * 3, "flaky 7": ["malformed", "ok"]}
    titles = ["weapons 0", *faults]
    with FakeOpenAI(policy.ids, faults=faults) as fake:
        summary, labels, errors = label(tmp_path, fake, titles)
        expected = {"<preflight>": 1, "weapons 0": 1, "rate 1": 2, "crash 2": 3, "slow 3": 2, "garbled 4": 3,
                    "firearms 5": 3, "cut 6": 3, "flaky 7": 2}
        assert dict(fake.counts) == expected
        times = {title: [t for ti, _, t in fake.log if ti == title] for title in ("rate 1",)}
        assert times["rate 1"][1] - times["rate 1"][0] >= 1.0  # Retry-After: 1 honoured
        flaky = [body["temperature"] for (title, _, _), body in zip(fake.log, fake.bodies) if title == "flaky 7"]
        assert flaky == [0.0, 0.8]  # an unusable answer is asked again at sample_temperature

    assert sorted(labels) == ["id-0", "id-1", "id-2", "id-3", "id-7"]
    assert {i: (e["error"], "3 answers" in e["reason"]) for i, e in errors.items()} == {
        "id-4": ("unparseable", True), "id-5": ("unknown_policy", True), "id-6": ("truncated", True)}
    assert summary.errors == {"unparseable": 1, "unknown_policy": 1, "truncated": 1}
    assert summary.retries == {"rate_limited": 1, "server_error": 2, "timeout": 1}
    # calls are answered (billed) requests; the preflight and the retried failures are not among them
    assert summary.calls == sum(expected.values()) - 1 - 4 and summary.labelled == 5 and summary.listings == 8
    assert summary.tokens_in > 0 and summary.tokens_out > 0 and summary.cost is None  # "fake" has no price
    weapons = labels["id-0"]
    assert weapons["labels"]["weapons"] == pytest.approx(0.8) and weapons["labels"]["drugs"] == pytest.approx(0.2)
    assert set(weapons["labels"]) == set(policy.ids)
    prov = weapons["provenance"]
    assert prov["backend"] == "openai" and prov["model"] == "fake" and prov["confidence"] == "logprobs"
    assert prov["prompt_version"].startswith("all_policies-") and prov["time"]


def test_transport_failure_after_all_retries_is_an_error_row_and_a_rerun_retries_it(tmp_path, policy):
    with FakeOpenAI(policy.ids, faults={"down 1": ["500"] * 3}) as fake:
        summary, labels, errors = label(tmp_path, fake, ["weapons 0", "down 1"], "teacher.max_retries=2")
        assert errors["id-1"]["error"] == "server_error" and "after 3 attempts" in errors["id-1"]["reason"]
        # failed requests are not cached: the rerun asks again (and now succeeds); the finished one is free
        summary, labels, errors = label(tmp_path, fake, ["weapons 0", "down 1"], "teacher.max_retries=2")
        assert sorted(labels) == ["id-0", "id-1"] and not errors
        assert fake.counts["down 1"] == 4 and fake.counts["weapons 0"] == 1 and summary.from_cache == 1


def test_a_rerun_makes_no_calls_at_all(tmp_path, policy):
    titles = ["weapons 0", "drugs 1", "plain 2", "garbled 3"]
    with FakeOpenAI(policy.ids, faults={"garbled 3": ["malformed"] * 3}) as fake:
        first, labels1, errors1 = label(tmp_path, fake, titles)
        before = dict(fake.counts)
        again, labels2, errors2 = label(tmp_path, fake, titles, name="again")
        assert dict(fake.counts) == before  # not even the preflight
    assert again.calls == 0 and again.from_cache == 4 and again.tokens_in == 0
    assert labels1 == labels2 and errors1 == errors2  # paid-for error answers are reproduced, not re-bought


def test_samples_vote_into_fractions(tmp_path, policy):
    with FakeOpenAI(policy.ids) as fake:
        summary, labels, _ = label(tmp_path, fake, ["vote 0", "drugs 1"], "teacher.samples=3")
        assert fake.listing_requests() == 6
        seeds = sorted(b["seed"] for b in fake.bodies if "seed" in b and b["max_tokens"] > 8)
        temps = {b["temperature"] for b in fake.bodies if b["max_tokens"] > 8}
    assert seeds == [0, 0, 1, 1, 2, 2] and temps == {0.8}
    assert labels["id-0"]["labels"]["weapons"] == pytest.approx(2 / 3)
    assert labels["id-1"]["labels"]["drugs"] == 1.0 and labels["id-1"]["labels"]["weapons"] == 0.0
    assert labels["id-0"]["provenance"]["confidence"] == "votes" and labels["id-0"]["provenance"]["samples"] == 3


def test_per_policy_design_asks_once_per_policy(tmp_path, policy):
    with FakeOpenAI(policy.ids, logprobs=False) as fake:
        summary, labels, _ = label(tmp_path, fake, ["weapons adult 0"], "prompt=per_policy")
        assert fake.listing_requests() == len(policy.ids)
    row = labels["id-0"]
    assert row["labels"]["weapons"] == pytest.approx(0.9) and row["labels"]["adult"] == pytest.approx(0.9)
    assert row["labels"]["drugs"] == pytest.approx(0.1) and row["provenance"]["confidence"] == "stated"
    assert row["rationale"].startswith("weapons: ") and "adult: " in row["rationale"]
    assert row["provenance"]["prompt_version"].startswith("per_policy-")


def test_violations_design_lists_only_what_is_violated_without_logprobs(tmp_path, policy):
    faults = {"firearms 2": ["unknown_policy"] * 3}
    with FakeOpenAI(policy.ids, faults=faults) as fake:
        summary, labels, errors = label(tmp_path, fake, ["weapons adult 0", "plain 1", "firearms 2"],
                                        "prompt=violations_only",
                                        "++teacher.prices={fake: {input_per_1m: 1.0, output_per_1m: 4.0}}")
        listing_bodies = [b for b in fake.bodies if b["max_tokens"] > 8]
    assert fake.listing_requests() == 1 + 1 + 3  # one call a listing; the unusable answer asked again twice
    assert not any("logprobs" in b for b in listing_bodies)  # the answer has no true/false to read them from
    assert set(listing_bodies[0]["response_format"]["json_schema"]["schema"]["properties"]) == {"violations"}
    violated = labels["id-0"]["labels"]
    assert violated["weapons"] == pytest.approx(0.9) and violated["adult"] == pytest.approx(0.9)
    assert sum(violated.values()) == pytest.approx(1.8) and labels["id-0"]["rationale"] == "Violates weapons, adult."
    assert set(labels["id-1"]["labels"].values()) == {0.0} and labels["id-1"]["rationale"] == "No policy violated."
    assert errors["id-2"]["error"] == "unknown_policy" and summary.errors == {"unknown_policy": 1}
    assert labels["id-0"]["provenance"]["prompt_version"].startswith("violations_only-")
    # the price given on the command line is merged into the table and prices every answered call
    assert summary.cost == pytest.approx(summary.tokens_in / 1e6 + 4 * summary.tokens_out / 1e6) and summary.cost > 0


def test_structured_output_falls_back_to_what_the_server_accepts(tmp_path, policy):
    with FakeOpenAI(policy.ids, refuse_formats={"json_schema"}) as fake:
        label(tmp_path, fake, ["weapons 0"])
        formats = [b.get("response_format") for b in fake.bodies if b["max_tokens"] > 8]  # not the preflight
    assert len(formats) == 1 and formats[0]["type"] == "json_object"
    assert formats[0]["schema"]["required"] == ["rationale", "verdicts"]


def test_output_is_the_replay_format_train_reads(tmp_path, policy):
    with FakeOpenAI(policy.ids) as fake:
        label(tmp_path, fake, ["weapons 0", "plain 1"])
    listings, _ = read_listings(tmp_path / "in.jsonl")
    joined, read_report, join_report, _ = replay_teacher(listings, tmp_path / "labels.jsonl", policy)
    assert join_report.labelled == 2 and read_report.rejected == 0
    assert joined[0].label.probs["weapons"] == pytest.approx(0.8)
    summary = json.loads((tmp_path / "labels.summary.json").read_text())
    assert summary["listings"] == 2 and summary["labelled"] == 2 and summary["teacher"]["model"] == "fake"


def test_request_key_covers_the_whole_request_and_the_cache_persists(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.0}
    keys = {request_key(body, sample=0, attempt=0), request_key({**body, "temperature": 0.1}, sample=0, attempt=0),
            request_key({**body, "model": "n"}, sample=0, attempt=0), request_key(body, sample=1, attempt=0),
            request_key(body, sample=0, attempt=1),
            request_key({**body, "messages": [{"role": "user", "content": "y"}]}, sample=0, attempt=0)}
    assert len(keys) == 6
    with RequestCache(tmp_path / "c.sqlite") as cache:
        cache.put("k", {"content": "a"})
    with RequestCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("k") == {"content": "a"} and cache.get("other") is None and len(cache) == 1


def test_rate_limiter_holds_the_average_rate():
    now = [0.0]

    async def sleep(s):
        now[0] += s

    async def run():
        limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)  # 2 per second
        for _ in range(10):
            await limiter.acquire()
        big = RateLimiter(600, clock=lambda: now[0], sleep=sleep)  # 10 tokens per second
        start = now[0]
        await big.acquire(50)
        await big.acquire(50)
        return start

    start = asyncio.run(run())
    assert start == pytest.approx(4.0)  # 10 requests at 2/s: a second's worth at once, then one every 0.5 s
    assert now[0] - start == pytest.approx(5.0)  # 100 tokens at 10/s: the second 50 waited for the refill
