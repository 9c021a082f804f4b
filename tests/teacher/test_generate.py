"""Contrast generation (teacher/generation.py, scripts/generate.py) against the loopback fake server: listings
that read back, bad items and failed requests as error rows, the cache, and the intent report."""

import subprocess
import sys

import pytest

from moddistill.data.listings import read_listings
from moddistill.teacher.generation import generate_file, intent_disagreements
from moddistill.teacher.labeling import label_file
from tests.conftest import ROOT, compose_config, read_jsonl, write_jsonl
from tests.fake_openai import FakeOpenAI
from tests.test_exit_codes import run_script

FAST = ["teacher.timeout_s=2", "teacher.backoff_base_s=0.01", "teacher.backoff_max_s=0.05", "progress=false"]
# weapons.1 and weapons.2, both intents, in English and Indonesian: 8 requests of 2 listings
SMALL = ["policies=[weapons]", "languages=[en,id]", "limit=8"]
REQUESTS = [f"weapons.{c}/{kind}/{loc}" for c in (1, 2) for kind in ("lookalike", "violation")
            for loc in ("en-US", "id-ID")]


def generate(tmp_path, fake, *overrides, name="gen"):
    out = tmp_path / f"{name}.jsonl"
    cfg = compose_config("generate", [f"output={out}", f"cache={tmp_path / 'cache.sqlite'}",
                                      f"teacher.base_url={fake.url}", "teacher.model=fake", *FAST, *SMALL, *overrides])
    summary = generate_file(cfg)
    return summary, read_jsonl(out), read_jsonl(out.with_name(f"{name}.errors.jsonl"))


def test_valid_answers_become_listing_rows_that_read_back_and_label(tmp_path, policy):
    with FakeOpenAI(policy.ids) as fake:
        summary, rows, errors = generate(tmp_path, fake)
        assert sorted(k for k in fake.counts if k != "<preflight>") == sorted(REQUESTS)
        assert fake.listing_requests() == 8 and not errors

        listings, report = read_listings(tmp_path / "gen.jsonl")
        assert len(listings) == len(rows) == 16 and report.rejected == 0
        assert all(x.id.startswith("gen-") and len(x.id) == 16 for x in listings)
        row = next(r for r in rows if r["provenance"]["request"] == "weapons.2/violation/id-ID")
        assert row["language"] == "id" and row["intent"] == {"policy": "weapons", "clause": "weapons.2",
                                                             "kind": "violation", "language": "id"}
        prov = row["provenance"]
        assert prov["backend"] == "openai" and prov["model"] == "fake" and prov["time"]
        assert prov["prompt_version"].startswith("contrast-") and prov["prompt_version"] == summary.prompt_version
        assert (summary.requests, summary.listings, summary.errors, summary.calls) == (8, 16, {}, 8)
        assert summary.tokens_in > 0 and summary.cost is None  # "fake" has no price
        assert "8 requests (0 from cache, 8 calls): 16 listings" in summary.line()

        # label.py reads the generated file like any listings (the intent and provenance are extra keys)
        cfg = compose_config("label", [f"input={tmp_path / 'gen.jsonl'}", f"output={tmp_path / 'labels.jsonl'}",
                                       f"cache={tmp_path / 'cache.sqlite'}", f"teacher.base_url={fake.url}",
                                       "teacher.model=fake", *FAST])
        assert label_file(cfg).labelled == 16

    # the fake labeller flags the first listing of each request only: half of each intent contradicts it
    report = intent_disagreements(tmp_path / "gen.jsonl", tmp_path / "labels.jsonl", policy)
    assert report["policies"]["weapons"]["lookalike"]["disagree"] == 4
    assert report["total"]["violation"] == {"listings": 8, "labelled": 8, "disagree": 4, "unlabelled": 0, "rate": 0.5}


def test_bad_items_and_unusable_answers_become_error_rows_never_listings(tmp_path, policy):
    faults = {"weapons.1/lookalike/en-US": ["bad_items"], "weapons.1/lookalike/id-ID": ["wrong_language"],
              "weapons.1/violation/en-US": ["malformed"] * 3, "weapons.1/violation/id-ID": ["same"],
              "weapons.2/lookalike/en-US": ["truncated", "ok"], "weapons.2/lookalike/id-ID": ["empty"] * 3}
    with FakeOpenAI(policy.ids, faults=faults) as fake:
        summary, rows, errors = generate(tmp_path, fake)
        assert fake.counts["weapons.1/violation/en-US"] == 3 and fake.counts["weapons.2/lookalike/en-US"] == 2

    by_request = {}
    for e in errors:
        by_request.setdefault(e["request"], []).append((e["item"], e["error"]))
    assert by_request == {
        "weapons.1/lookalike/en-US": [(1, "invalid_title"), (2, "invalid_price")],
        "weapons.1/lookalike/id-ID": [(1, "wrong_language"), (2, "invalid_language")],
        "weapons.1/violation/en-US": [(None, "unparseable")],
        "weapons.1/violation/id-ID": [(2, "duplicate")],
        "weapons.2/lookalike/id-ID": [(None, "no_listings")],
    }
    garbled = next(e for e in errors if e["error"] == "unparseable")
    assert garbled["raw"].startswith("Sure!") and "3 answers" in garbled["reason"]
    assert '"ask me"' in next(e["raw"] for e in errors if e["error"] == "invalid_price")
    assert all(e["intent"]["policy"] == "weapons" and e["provenance"]["model"] == "fake" for e in errors)
    # weapons.2's violations (4), its truncated answer asked again (2), one of the same pair (1)
    assert len(rows) == 7 and {r["language"] for r in rows} == {"en", "id"}
    assert len(read_listings(tmp_path / "gen.jsonl")[0]) == 7
    assert summary.listings == 7 and sum(summary.errors.values()) == len(errors) == 7


def test_a_rerun_makes_no_request_and_writes_the_same_files(tmp_path, policy):
    with FakeOpenAI(policy.ids, faults={"weapons.1/violation/en-US": ["malformed"] * 3}) as fake:
        first, rows1, errors1 = generate(tmp_path, fake)
        before = dict(fake.counts)
        again, rows2, errors2 = generate(tmp_path, fake, name="again")
        assert dict(fake.counts) == before  # not even the preflight
    assert again.calls == 0 and again.from_cache == 8 and again.tokens_in == 0
    assert rows1 == rows2 and errors1 == errors2


def test_a_failing_server_is_retried_then_recorded_and_retried_by_the_next_run(tmp_path, policy):
    faults = {"weapons.1/lookalike/en-US": ["500"] * 3, "weapons.1/lookalike/id-ID": ["500", "429:0"]}
    with FakeOpenAI(policy.ids, faults=faults) as fake:
        summary, rows, errors = generate(tmp_path, fake, "teacher.max_retries=2")
        assert fake.counts["weapons.1/lookalike/en-US"] == 3 and fake.counts["weapons.1/lookalike/id-ID"] == 3
        assert [(e["request"], e["error"], e["raw"]) for e in errors] == [
            ("weapons.1/lookalike/en-US", "server_error", "")]
        assert "after 3 attempts" in errors[0]["reason"]
        assert summary.retries == {"server_error": 3, "rate_limited": 1} and len(rows) == 14
        # a failed request is not cached: the rerun asks again (and now succeeds); the rest is free
        again, rows, errors = generate(tmp_path, fake, "teacher.max_retries=2")
        assert again.calls == 1 and again.from_cache == 7 and len(rows) == 16 and not errors


def test_intent_disagreements_count_per_policy_and_intent(tmp_path, policy):
    def listing(i, pid, kind):
        return {"id": f"gen-{i}", "title": f"item {i}", "description": "", "category": "Misc", "price": 1,
                "currency": "USD", "market": "US", "language": "en",
                "intent": {"policy": pid, "clause": f"{pid}.1", "kind": kind, "language": "en"}}

    def label(i, *flagged):
        return {"id": f"gen-{i}", "labels": {p: (0.9 if p in flagged else 0.1) for p in policy.ids}}

    write_jsonl(tmp_path / "gen.jsonl", [listing(0, "weapons", "lookalike"), listing(1, "weapons", "lookalike"),
                                         listing(2, "weapons", "violation"), listing(3, "weapons", "violation"),
                                         listing(4, "drugs", "violation"), listing(5, "drugs", "lookalike")])
    # 0: a look-alike flagged (for another policy: still a disagreement); 1: allowed, agrees; 2: flagged for weapons,
    # agrees; 3: flagged, but not for weapons; 4: allowed, disagrees; 5: no label (a label.py error row)
    write_jsonl(tmp_path / "labels.jsonl", [label(0, "drugs"), label(1), label(2, "weapons"), label(3, "drugs"),
                                            label(4)])
    report = intent_disagreements(tmp_path / "gen.jsonl", tmp_path / "labels.jsonl", policy)
    weapons, drugs = report["policies"]["weapons"], report["policies"]["drugs"]
    assert list(report["policies"]) == ["weapons", "drugs"]  # policy-file order
    assert (weapons["lookalike"]["disagree"], weapons["lookalike"]["ids"], weapons["lookalike"]["rate"]) == (
        1, ["gen-0"], 0.5)
    assert (weapons["violation"]["disagree"], weapons["violation"]["ids"]) == (1, ["gen-3"])
    assert drugs["violation"]["ids"] == ["gen-4"] and drugs["violation"]["rate"] == 1.0
    assert drugs["lookalike"] == {"listings": 1, "labelled": 0, "disagree": 0, "ids": [], "unlabelled": 1,
                                  "rate": None}
    assert report["total"]["lookalike"] == {"listings": 3, "labelled": 2, "disagree": 1, "unlabelled": 1, "rate": 0.5}
    assert report["total"]["violation"]["disagree"] == 2 and report["total"]["violation"]["labelled"] == 3


def run_generate(tmp_path, *overrides):
    cmd = [sys.executable, str(ROOT / "scripts" / "generate.py"), f"output={tmp_path / 'gen.jsonl'}",
           f"cache={tmp_path / 'cache.sqlite'}", "progress=false", *overrides]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("bad, message", [
    (["intents=[lookalike,decoy]"], "intents[1]='decoy': expected one of 'lookalike', 'violation'"),
    (["locales=[{language: english, market: US, currency: USD}]"], "locales[0].language='english': expected a BCP 47"),
    (["+n_per_requests=3"], "n_per_requests is unknown (did you mean n_per_request?)"),
    (["policies=[weapon]"], "config key policies: 'weapon' is not a policy of marketplace_v1"),
    (["languages=[fr]"], "config key languages: 'fr' is the language of none of the locales"),
    (["teacher.model=null"], "config key teacher.model is required to generate"),
])
def test_a_bad_config_exits_2_in_one_line_before_any_request(bad, message, tmp_path, policy, monkeypatch, capsys):
    with FakeOpenAI(policy.ids) as fake:
        args = [f"output={tmp_path / 'gen.jsonl'}", f"cache={tmp_path / 'cache.sqlite'}", f"teacher.base_url={fake.url}",
                *(["teacher.model=fake"] if "teacher.model=null" not in bad else []), *bad]
        code, err = run_script("generate", args, monkeypatch, capsys)
        assert not fake.counts
    assert code == 2 and err.startswith("error: ") and message in err.splitlines()[0], err
    assert "Traceback" not in err


def test_the_script_generates_then_reports_the_intents(tmp_path, policy):
    with FakeOpenAI(policy.ids) as fake:
        result = run_generate(tmp_path, f"teacher.base_url={fake.url}", "teacher.model=fake", "policies=[drugs]",
                              "intents=[violation]", "languages=[th]")
        assert result.returncode == 0, result.stderr
        assert "5 requests (0 from cache, 5 calls): 10 listings" in result.stdout  # drugs has 5 clauses
        assert (tmp_path / "gen.summary.json").exists()

    write_jsonl(tmp_path / "labels.jsonl", [{"id": r["id"], "labels": {p: 0 for p in policy.ids}}
                                            for r in read_jsonl(tmp_path / "gen.jsonl")])
    result = run_generate(tmp_path, f"report_labels={tmp_path / 'labels.jsonl'}")  # needs no server or model
    assert result.returncode == 0, result.stderr
    assert "drugs: lookalike -; violation 10/10 not flagged (100%)" in result.stdout
    assert (tmp_path / "gen.intent_report.json").exists()
