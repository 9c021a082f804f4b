"""Expert verdicts (teacher/expert_verdicts.py): the format's validation names file, line and field; a verdict
overrides the teacher's label in training with provenance saying so, labels a listing the teacher did not, and
experts who disagree are reported, never resolved."""

from __future__ import annotations

import json

import pytest

from moddistill.data.records import RowError
from moddistill.distill.data import prepare_training_data
from moddistill.teacher.expert_verdicts import read_expert_verdicts
from tests.conftest import compose_config, read_jsonl, tiny_overrides, write_jsonl


def verdict(lid, violations, reviewer="ana", time="2024-05-02T10:00:00Z", **extra):
    return {"id": lid, "violations": violations, "reviewer": reviewer, "time": time, **extra}


@pytest.mark.parametrize("bad, field, reason", [
    ({"violations": ["weapons", "guns"]}, "violations[1]", "policy id 'guns' is not in the policy"),
    ({"violations": "weapons"}, "violations", "expected a list of policy ids"),
    ({"violations": None}, "violations", "missing (use [] for a listing that violates no policy)"),
    ({"reviewer": ""}, "reviewer", "missing"),
    ({"reviewer": 7}, "reviewer", "expected text"),
    ({"time": None}, "time", "missing"),
    ({"time": "yesterday"}, "time", "expected an ISO 8601 time"),
    ({"id": None}, "id", "missing"),
    ({"note": 3}, "note", "expected text"),
])
def test_a_bad_row_names_its_file_line_and_field(tmp_path, policy, bad, field, reason):
    path = write_jsonl(tmp_path / "v.jsonl", [verdict("a", []), {**verdict("b", ["drugs"]), **bad}])
    with pytest.raises(RowError) as e:
        read_expert_verdicts([path], policy)
    assert (e.value.file, e.value.location, e.value.field) == (str(path), "line 2", field)
    assert reason in e.value.reason
    # skip: the bad row goes to a rejects file and the good one stands
    verdicts = read_expert_verdicts([path], policy, on_error="skip", rejects_dir=tmp_path / "rejects")
    assert list(verdicts.standing) == ["a"] and verdicts.summary()["rejected"] == 1
    assert read_jsonl(next((tmp_path / "rejects").glob("*.jsonl")))[0]["field"] == field


def test_reviewers_over_several_files_latest_wins_agreement_merges_conflicts_are_left_out(tmp_path, policy):
    first = write_jsonl(tmp_path / "round1.jsonl", [
        verdict("a", ["weapons"], "ana", "2024-05-02T10:00:00Z"),
        verdict("b", ["drugs"], "ana"),
        verdict("c", [], "ana", "2024-05-03"),
    ])
    second = write_jsonl(tmp_path / "round2.jsonl", [
        verdict("a", [], "ana", "2024-05-02T09:00:00Z", note="an older verdict read later: loses"),
        verdict("b", ["drugs"], "bo", "2024-05-04T10:00:00+02:00"),
        verdict("c", ["adult"], "bo", note="disagrees with ana"),
    ])
    v = read_expert_verdicts([first, second], policy)
    assert v.standing["a"].violations == ("weapons",) and v.superseded == 1
    assert v.standing["b"].reviewer == "bo" and v.reviewers["b"] == ["ana", "bo"]
    assert "c" not in v.standing
    assert [(c.id, c.verdicts) for c in v.conflicts] == [("c", {"ana": [], "bo": ["adult"]})]
    s = v.summary()
    assert (s["read"], s["listings"], s["conflicts"]) == (6, 2, 1) and s["conflict_examples"] == ["c: ana none; bo ['adult']"]
    assert set(s["files"]) == {str(first), str(second)} and all(len(h) == 64 for h in s["files"].values())


def test_training_reads_verdicts_next_to_teacher_labels(sample_slice, tmp_path, policy):
    listings = read_jsonl(sample_slice["listings"])
    teacher = {r["id"]: r for r in read_jsonl(sample_slice["labels"])}
    clean = [x["id"] for x in listings if not any(v >= 0.5 for v in teacher[x["id"]]["labels"].values())]
    overridden, conflicted, unlabelled, agreed = clean[:4]
    # the teacher never labelled `unlabelled`: without a verdict it could not train
    labels = write_jsonl(tmp_path / "labels.jsonl", [r for i, r in teacher.items() if i != unlabelled])
    data = dict(sample_slice, labels=labels)
    with pytest.raises(RowError, match=f"no teacher label for listing '{unlabelled}'"):
        prepare_training_data(compose_config("train", tiny_overrides(data, tmp_path / "a")), tmp_path / "a")

    verdicts = write_jsonl(tmp_path / "verdicts.jsonl", [
        verdict(overridden, ["weapons", "drugs"], note="a pistol sold with pills"),
        verdict(conflicted, ["adult"], "ana"), verdict(conflicted, [], "bo"),
        verdict(unlabelled, ["fraud_scams"]),
        verdict(agreed, []),  # agrees with the teacher: an override that changes nothing
        verdict("no-such-listing", ["adult"]),
    ])
    cfg = compose_config("train", tiny_overrides(data, tmp_path / "b", f"teacher.expert_verdicts=[{verdicts}]"))
    td = prepare_training_data(cfg, tmp_path / "b")
    rows = {r.listing.id: r.label for r in td.train + td.validation}
    over = rows[overridden]
    assert over.probs == {p: float(p in ("weapons", "drugs")) for p in policy.ids}
    assert over.rationale == "a pistol sold with pills"
    assert over.provenance["source"] == "expert" and over.provenance["reviewer"] == "ana"
    assert over.provenance["time"] == "2024-05-02T10:00:00Z"
    assert over.provenance["teacher"] == teacher[overridden]["provenance"]
    assert rows[conflicted].probs == teacher[conflicted]["labels"]  # the teacher's label stands
    assert rows[conflicted].provenance.get("source") != "expert"
    assert rows[unlabelled].violated() == ["fraud_scams"] and rows[unlabelled].provenance["teacher"] is None
    report = td.report["expert_verdicts"]
    assert {k: report[k] for k in ("read", "listings", "overrides", "changed", "added", "unused", "conflicts")} == {
        "read": 6, "listings": 4, "overrides": 2, "changed": 1, "added": 1, "unused": 1, "conflicts": 1}
    assert td.report["join"]["labelled"] == len(listings)
    assert td.report["sha256"]["expert_verdicts[0]"] == report["files"][str(verdicts)]


def test_the_baseline_trains_on_the_verdicts_too(sample_slice, tmp_path):
    from moddistill.baselines.train import train_baseline

    lid = read_jsonl(sample_slice["listings"])[0]["id"]
    verdicts = write_jsonl(tmp_path / "v.jsonl", [verdict(lid, ["wildlife"])])
    run_dir = tmp_path / "run"
    cfg = compose_config("baseline", [f"data.listings={sample_slice['listings']}",
                                      f"teacher.labels={sample_slice['labels']}",
                                      f"data.policy_cases={sample_slice['cases']}", f"output_dir={run_dir}",
                                      f"teacher.expert_verdicts={verdicts}"])  # one path, not a list: accepted
    train_baseline(cfg)
    data = json.loads((run_dir / "metrics.json").read_text())["data"]
    assert data["expert_verdicts"]["overrides"] == 1 and "expert_verdicts[0]" in data["sha256"]
