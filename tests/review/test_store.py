"""The review store (review/store.py): one row per verdict, nothing overwritten, what stands settled by the verdict
reader itself, escalations kept but never exported, imports checked row by row, concurrent writers losing nothing."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from moddistill.data.records import RowError
from moddistill.review.store import (
    ALLOW,
    ESCALATE,
    VIOLATES,
    UnknownItem,
    VerdictStore,
    make_verdict,
    read_verdict_file,
)
from moddistill.teacher.expert_verdicts import read_expert_verdicts
from tests.conftest import read_jsonl, write_jsonl

IDS = {"a", "b", "c"}


def verdict(policy, lid="a", decision=ALLOW, violations=(), reviewer="ana", time="2026-05-02T10:00:00Z", note=""):
    return make_verdict(IDS, policy, id=lid, decision=decision, violations=list(violations), reviewer=reviewer,
                        note=note, time=time)


def test_wal_mode_and_every_verdict_its_own_row(tmp_path, policy):
    store = VerdictStore(tmp_path / "s.sqlite")
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add([verdict(policy, reviewer="ana"), verdict(policy, decision=VIOLATES, violations=["weapons"],
                                                        reviewer="bo")])
    assert [(v.reviewer, v.decision, v.violations) for v in store.all()] == [
        ("ana", ALLOW, ()), ("bo", VIOLATES, ("weapons",))]
    # the two reviewers disagree: a conflict, reported as expert_verdicts reports it, and no verdict stands
    settled = store.settle(policy)
    assert settled.standing == {} and [c.summary() for c in settled.conflicts] == ["a: ana none; bo ['weapons']"]
    # bo corrects himself later: both rows are kept, the later one counts, and the reviewers now agree
    store.add([verdict(policy, reviewer="bo", time="2026-05-02T11:00:00Z")])
    settled = store.settle(policy)
    assert len(store.all()) == 3 and settled.conflicts == [] and settled.reviewers["a"] == ["ana", "bo"]
    assert settled.standing["a"].violations == () and settled.superseded == 1


def test_export_is_the_verdict_jsonl_and_leaves_escalations_out(tmp_path, policy):
    store = VerdictStore(tmp_path / "s.sqlite")
    store.add([verdict(policy, "a", VIOLATES, ["drugs", "weapons"], note="  replica sold as real "),
               verdict(policy, "b", ESCALATE, reviewer="bo"), verdict(policy, "c")])
    out = tmp_path / "verdicts.jsonl"
    assert store.export(out) == 2
    assert read_jsonl(out) == [
        {"id": "a", "violations": ["weapons", "drugs"], "reviewer": "ana", "time": "2026-05-02T10:00:00Z",
         "note": "replica sold as real"},
        {"id": "c", "violations": [], "reviewer": "ana", "time": "2026-05-02T10:00:00Z"}]
    back = read_expert_verdicts([out], policy)
    assert {lid: v.violations for lid, v in back.standing.items()} == {"a": ("weapons", "drugs"), "c": ()}
    # importing the export into a fresh store gives the same verdicts; importing it again adds nothing
    again = VerdictStore(tmp_path / "again.sqlite")
    rows = read_verdict_file(out, policy, IDS, origin="verdicts.jsonl")
    assert again.add(rows) == 2 and again.add(rows) == 0
    assert [v.verdict_row() for v in again.all()] == read_jsonl(out)


@pytest.mark.parametrize("changes, field", [
    ({"violations": ["nope"], "decision": VIOLATES}, "violations[0]"),
    ({"violations": [], "decision": VIOLATES}, "violations"),
    ({"violations": ["weapons"], "decision": ALLOW}, "violations"),
    ({"decision": "maybe"}, "decision"),
    ({"reviewer": "  "}, "reviewer"),
])
def test_a_bad_verdict_is_refused_naming_the_field(policy, changes, field):
    args = {"id": "a", "decision": ALLOW, "violations": [], "reviewer": "ana"} | changes
    with pytest.raises(RowError) as e:
        make_verdict(IDS, policy, **args)
    assert e.value.field == field


def test_unknown_listing_is_refused(tmp_path, policy):
    with pytest.raises(UnknownItem, match="'zz' is not in this review queue"):
        make_verdict(IDS, policy, id="zz", decision=ALLOW, violations=[], reviewer="ana")
    path = write_jsonl(tmp_path / "v.jsonl", [{"id": "a", "violations": [], "reviewer": "x", "time": "2026-01-01"},
                                              {"id": "zz", "violations": [], "reviewer": "x", "time": "2026-01-01"}])
    with pytest.raises(UnknownItem, match=r"v.jsonl, line 2, field 'id': listing 'zz'"):
        read_verdict_file(path, policy, IDS, origin="v.jsonl")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "violations": ["nope"], "reviewer": "x",
                                                "time": "2026-01-01"}])
    with pytest.raises(RowError, match=r"bad.jsonl, line 1, field 'violations\[0\]'"):
        read_verdict_file(bad, policy, IDS, origin="bad.jsonl")


def test_concurrent_writers_lose_nothing(tmp_path, policy):
    store = VerdictStore(tmp_path / "s.sqlite")
    start = threading.Barrier(4)

    def write(reviewer: str) -> None:
        start.wait()
        for i in range(50):
            store.add([verdict(policy, lid="abc"[i % 3], reviewer=reviewer, time=f"2026-05-02T10:00:{i:02d}Z")])

    threads = [threading.Thread(target=write, args=(r,)) for r in ("ana", "bo", "cy", "di")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.all()
    assert len(rows) == 200 and {r.reviewer for r in rows} == {"ana", "bo", "cy", "di"}
