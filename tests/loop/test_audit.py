"""The audit (loop/audit.py, scripts/audit.py): a stratified sample of automatic decisions where every policy with
automatic rejects is audited and no listing twice, weights that undo the strata's sampling rates, estimates that
match a hand count, Wilson intervals at known values, pending and conflicting verdicts counted, never guessed."""

from __future__ import annotations

import json

import pytest

from moddistill.data.records import EmptyInputError, RowError
from moddistill.errors import UserError
from moddistill.loop.audit import allocate, draw_sample, estimate, wilson
from tests.conftest import read_jsonl, write_jsonl
from tests.data.test_listings import row
from tests.test_exit_codes import run_script


def decision(lid, flagged=(), decided_by="student"):
    return {"id": lid, "flagged": list(flagged), "scores": {}, "decided_by": decided_by}


def verdict(lid, violations, reviewer="ana"):
    return {"id": lid, "violations": violations, "reviewer": reviewer, "time": "2024-05-02T10:00:00Z"}


@pytest.fixture
def decisions(tmp_path):
    rows = ([decision(f"a{i}") for i in range(100)] + [decision(f"w{i}", ["weapons"], "llm" if i % 2 else "student")
                                                       for i in range(40)]
            + [decision(f"l{i}", ["wildlife"]) for i in range(3)]
            + [decision(f"x{i}", ["weapons", "wildlife"]) for i in range(2)]  # rarest policy: wildlife's stratum
            + [decision(f"e{i}", ["drugs"], "expert") for i in range(5)])  # not automatic: never sampled
    return write_jsonl(tmp_path / "decisions.jsonl", rows)


def test_strata_floors_proportions_weights_and_no_listing_twice(decisions, tmp_path, policy):
    out = tmp_path / "sample.jsonl"
    s = draw_sample(decisions, out, 30, policy, min_per_stratum=5, seed=1)
    # floors of 5 (wildlife's stratum holds 5), then the 15 left in proportion 100:40 with largest remainders
    assert {h: (st["population"], st["sample"]) for h, st in s["strata"].items()} == {
        "allow": (100, 16), "reject:weapons": (40, 9), "reject:wildlife": (5, 5)}
    assert (s["automatic"], s["by_experts_not_audited"], s["automatic_rejects"]["weapons"]) == (145, 5, 42)
    rows = read_jsonl(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == 30 == len(set(ids)) and not any(i.startswith("e") for i in ids)
    weights = {r["audit"]["stratum"]: r["audit"]["weight"] for r in rows}
    assert weights == {"allow": 6.25, "reject:weapons": pytest.approx(40 / 9), "reject:wildlife": 1.0}
    assert {r["id"] for r in rows if r["audit"]["stratum"] == "reject:wildlife"} == {"l0", "l1", "l2", "x0", "x1"}
    made = {d["id"]: d for d in read_jsonl(decisions)}
    assert all([r["audit"][k] for k in ("decision", "decided_by")] == [made[r["id"]][k] for k in ("flagged", "decided_by")]
               for r in rows)
    assert json.loads((tmp_path / "sample.summary.json").read_text())["strata"]["allow"]["sample"] == 16
    # the same seed draws the same sample; a small size still reaches every stratum, rarest first
    assert draw_sample(decisions, tmp_path / "again.jsonl", 30, policy, min_per_stratum=5, seed=1) == {
        **s, "output": str(tmp_path / "again.jsonl")}
    assert read_jsonl(tmp_path / "again.jsonl") == rows
    small = draw_sample(decisions, tmp_path / "small.jsonl", 3, policy)
    assert [st["sample"] for st in small["strata"].values()] == [1, 1, 1]


def test_allocation_never_exceeds_a_stratum_and_sums_to_size():
    for size in range(1, 56):
        alloc = allocate({"a": 50, "b": 3, "c": 2}, size, 4)
        assert sum(alloc.values()) == size and alloc["b"] <= 3 and alloc["c"] <= 2
    assert allocate({"a": 90, "b": 10}, 20, 0) == {"a": 18, "b": 2}  # no floor: proportional


def test_the_sample_carries_the_listing_a_reviewer_needs(tmp_path, policy):
    dec = write_jsonl(tmp_path / "d.jsonl", [decision("a1"), decision("a2", ["adult"])])
    listings = write_jsonl(tmp_path / "l.jsonl", [row(id="a1"), row(id="a2", title="Another listing")])
    draw_sample(dec, tmp_path / "s.jsonl", 2, policy, listings_path=listings)
    rows = read_jsonl(tmp_path / "s.jsonl")
    assert [(r["id"], r["title"], r["audit"]["decision"]) for r in rows] == [
        ("a1", row()["title"], []), ("a2", "Another listing", ["adult"])]


def test_bad_input_is_refused_in_one_line(decisions, tmp_path, policy):
    with pytest.raises(UserError, match="size=146 but .* holds 145 automatic decisions \\(5 by experts"):
        draw_sample(decisions, tmp_path / "s.jsonl", 146, policy)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(EmptyInputError, match="no rows"):
        draw_sample(empty, tmp_path / "s.jsonl", 1, policy)
    listings = write_jsonl(tmp_path / "l.jsonl", [row(id="a0")])
    with pytest.raises(UserError, match="149 of the 150 decided listings are not in this file \\(first: 'a1'\\)"):
        draw_sample(decisions, tmp_path / "s.jsonl", 1, policy, listings_path=listings)
    bad = write_jsonl(tmp_path / "bad.jsonl", [decision("a"), decision("b", ["guns"])])
    with pytest.raises(RowError, match="line 2, field 'flagged\\[0\\]': policy id 'guns' is not in the policy"):
        draw_sample(bad, tmp_path / "s.jsonl", 1, policy)
    assert not (tmp_path / "s.jsonl").exists()


def test_wilson_interval_at_known_values():
    assert wilson(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(0.5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0.75, 4) == pytest.approx((0.3006, 0.9544), abs=1e-4)


def test_estimates_match_a_hand_count_and_pending_verdicts_are_counted(tmp_path, policy):
    # every automatic decision is sampled (weights 1): estimates are plain shares
    dec = write_jsonl(tmp_path / "d.jsonl", [decision(f"w{i}", ["weapons"]) for i in range(4)]
                      + [decision(f"a{i}") for i in range(5)] + [decision("e0", ["drugs"], "expert")])
    draw_sample(dec, tmp_path / "s.jsonl", 9, policy)
    verdicts = write_jsonl(tmp_path / "v.jsonl", [
        verdict("w0", ["weapons"]), verdict("w1", ["weapons", "drugs"]), verdict("w2", ["weapons"]), verdict("w3", []),
        verdict("a0", ["drugs"]), verdict("a1", []), verdict("a2", []),  # a3: pending
        verdict("a4", []), verdict("a4", ["adult"], "bo"),  # experts disagree: left out
        verdict("zz", ["adult"]),  # not in the sample
    ])
    report, out = estimate(dec, tmp_path / "s.jsonl", [str(verdicts)], policy, tmp_path / "report")
    assert (report["sampled"], report["answered"], report["pending"], report["conflicts"],
            report["verdicts_outside_sample"]) == (9, 7, 1, 1, 1)
    weapons = report["policies"]["weapons"]["reject_precision"]
    assert (weapons["k"], weapons["n"], weapons["estimate"]) == (3, 4, 0.75)
    assert (weapons["low"], weapons["high"]) == pytest.approx(wilson(0.75, 4))
    drugs_missed = report["policies"]["drugs"]["allow_miss_rate"]
    assert (drugs_missed["k"], drugs_missed["n"]) == (1, 3) and drugs_missed["estimate"] == pytest.approx(1 / 3)
    assert report["policies"]["weapons"]["allow_miss_rate"]["estimate"] == 0.0
    assert report["policies"]["adult"]["reject_precision"]["estimate"] is None  # no automatic adult rejects
    assert report["overall"]["reject_precision"]["estimate"] == 0.75
    assert report["overall"]["allow_miss_rate"]["k"] == 1
    md = (out / "audit_report.md").read_text()
    assert "| weapons | 4 | 0.750 [0.301, 0.954] | 3/4 |" in md and "1 pending" in md
    assert json.loads((out / "audit_report.json").read_text())["pending"] == 1


def test_estimates_weight_strata_sampled_at_different_rates(tmp_path, policy):
    dec = write_jsonl(tmp_path / "d.jsonl", [decision(f"w{i}", ["weapons"]) for i in range(10)]
                      + [decision(f"x{i}", ["weapons", "wildlife"]) for i in range(2)])
    draw_sample(dec, tmp_path / "s.jsonl", 4, policy, min_per_stratum=2)  # wildlife stratum: 2 of 2; weapons: 2 of 10
    sampled = [r["id"] for r in read_jsonl(tmp_path / "s.jsonl") if r["id"][0] == "w"]
    verdicts = write_jsonl(tmp_path / "v.jsonl", [verdict("x0", ["weapons"]), verdict("x1", ["weapons"]),
                                                 verdict(sampled[0], ["weapons"]), verdict(sampled[1], [])])
    report, _ = estimate(dec, tmp_path / "s.jsonl", [str(verdicts)], policy)
    m = report["policies"]["weapons"]["reject_precision"]
    # weights 1, 1, 5, 5: (1 + 1 + 5) / 12, not the unweighted 3/4
    assert (m["k"], m["n"], m["estimate"], m["n_effective"]) == (3, 4, pytest.approx(7 / 12), pytest.approx(144 / 52, abs=0.01))


def test_a_sample_from_other_decisions_is_refused(tmp_path, policy):
    dec = write_jsonl(tmp_path / "d.jsonl", [decision("a0"), decision("w0", ["weapons"])])
    sample = write_jsonl(tmp_path / "s.jsonl", [{"id": "w0", "audit": {"stratum": "allow"}}])
    verdicts = write_jsonl(tmp_path / "v.jsonl", [verdict("w0", [])])
    with pytest.raises(RowError, match="line 1, field 'audit.stratum': listing 'w0' is not an automatic decision"):
        estimate(dec, sample, [str(verdicts)], policy)


def test_the_script_draws_then_estimates(decisions, tmp_path, monkeypatch, capsys):
    code, err = run_script("audit", [f"decisions={decisions}", f"output={tmp_path}/s.jsonl", "size=500"],
                           monkeypatch, capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"error: size=500 but {decisions} holds 145 automatic decisions (5 by experts are not audited): pass "
        "size=145 or less"]
    code, err = run_script("audit", [f"decisions={decisions}", f"output={tmp_path}/s.jsonl"], monkeypatch, capsys)
    assert code == 2 and "size=N is required to draw a sample" in err
    code, _ = run_script("audit", [f"decisions={decisions}", f"output={tmp_path}/s.jsonl", "size=20"],
                         monkeypatch, capsys)
    assert code == 0 and len(read_jsonl(tmp_path / "s.jsonl")) == 20
    verdicts = write_jsonl(tmp_path / "v.jsonl", [verdict(r["id"], r["audit"]["decision"])
                                                 for r in read_jsonl(tmp_path / "s.jsonl")])
    code, _ = run_script("audit", [f"decisions={decisions}", f"sample={tmp_path}/s.jsonl", f"verdicts={verdicts}"],
                         monkeypatch, capsys)
    assert code == 0
    report = json.loads((tmp_path / "audit_report.json").read_text())
    assert report["answered"] == 20 and report["overall"]["reject_precision"]["estimate"] == 1.0
