"""The review queue (review/queues.py) read from the project's own files: moderate.py's expert rows, audit.py
samples, select_batch.py batches; listings and scores joined in; a bad row is one error naming file, line, field."""

from __future__ import annotations

import pytest

from moddistill.data.records import RowError
from moddistill.errors import UserError
from moddistill.review.queues import AUDIT, BATCH, EXPERT, read_queue
from tests.conftest import read_jsonl, write_jsonl
from tests.review.conftest import HOSTILE_TITLE, decision, listing


def test_the_three_kinds_of_queue_file(review_files, policy):
    f = review_files
    q = read_queue([str(f["decisions"]), str(f["sample"]), str(f["batch"])], policy, listings=f["listings"],
                   decisions=f["decisions"])
    sampled = [r["id"] for r in read_jsonl(f["sample"])]
    assert q.ids() == ["r0", "r1", *sampled, "b1"]
    assert q.not_for_experts == 6 and q.audit_samples == [str(f["sample"])]
    r0, r1, b1 = q.items["r0"], q.items["r1"], q.items["b1"]
    # a moderate.py expert row: the listing from listings=, the scores, the fused decision, the LLM's answer, why
    assert r0.listing.title == HOSTILE_TITLE and r0.scores == {"weapons": 0.97, "drugs": 0.01}
    assert r0.decision == ("weapons",) and r0.llm["rationale"].startswith("A <b>kitchen</b>")
    assert [(r.kind, r.why) for r in r0.routes] == [(EXPERT, "student and LLM disagree strongly on weapons")]
    assert r0.routes[0].source == f"{f['decisions']}, line 1"
    assert r0.in_question(policy, {p: 0.5 for p in policy.ids}) == ("weapons",)
    assert r1.routes[0].why.startswith("no usable LLM answer") and r1.llm is None
    # an audit sample row: its stratum and decision say why; scores joined from decisions=
    s = q.items[sampled[0]]
    assert s.routes[0].kind == AUDIT and "stratum" in s.routes[0].why and s.scores
    # a batch row: its selection's reason; the policy it is about is in question
    assert b1.routes[0].kind == BATCH and "counterfeit score 0.189" in b1.routes[0].why and b1.scores == {}
    assert b1.in_question(policy, {}) == ("counterfeit",)


def test_a_listing_in_two_files_is_one_item_with_both_routes(review_files, policy, tmp_path):
    batch = write_jsonl(tmp_path / "b2.jsonl", [{**listing("r0", "x"), "selection": {"reason": "why not", "rank": 1}}])
    q = read_queue([str(review_files["decisions"]), str(batch)], policy, listings=review_files["listings"])
    assert q.ids() == ["r0", "r1"] and [r.kind for r in q.items["r0"].routes] == [EXPERT, BATCH]


def test_an_empty_file_or_no_expert_rows_is_an_empty_queue(tmp_path, policy):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    automatic = write_jsonl(tmp_path / "auto.jsonl", [decision("a"), decision("b", ["weapons"], "llm")])
    q = read_queue([str(empty), str(automatic)], policy)
    assert q.items == {} and q.not_for_experts == 2
    assert read_queue([], policy).items == {}


@pytest.mark.parametrize("row, where", [
    (decision("a", decided_by="robot"), "line 1, field 'decided_by'"),
    (decision("a", decided_by="expert", scores={"nope": 0.3}), "line 1, field 'scores.nope'"),
    (decision("a", decided_by="expert", scores={"weapons": 1.5}), "line 1, field 'scores.weapons'"),
    ({"id": "a", "title": "t"}, "line 1, field '<row>': not a row of moderate.py output"),
    ({"id": "a", "audit": {"stratum": "allow", "decision": ["nope"]}}, "line 1, field 'audit.decision[0]'"),
    ({**listing("a", price="ask me"), "selection": {"reason": "r"}}, "line 1, field 'price'"),
    ({"id": "a", "audit": {"decision": []}}, "line 1, field 'audit.stratum'"),
])
def test_a_bad_row_names_file_line_and_field(tmp_path, policy, row, where):
    path = write_jsonl(tmp_path / "q.jsonl", [row])
    with pytest.raises(RowError) as e:
        read_queue([str(path)], policy)
    assert str(e.value).startswith(f"{path}, {where}")


def test_a_duplicate_id_in_one_file_is_refused(tmp_path, policy):
    path = write_jsonl(tmp_path / "q.jsonl", [decision("a", decided_by="expert"), decision("a", decided_by="expert")])
    with pytest.raises(RowError, match="line 2, field 'id': duplicate id 'a'"):
        read_queue([str(path)], policy)


def test_a_row_without_its_listing_needs_listings(review_files, policy):
    with pytest.raises(UserError, match=r"moderated.jsonl, line 1: listing 'r0' has no listing fields .* pass the "
                                        "listings"):
        read_queue([str(review_files["decisions"])], policy)
