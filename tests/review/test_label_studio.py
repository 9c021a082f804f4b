"""The Label Studio adapter (review/label_studio.py), on files: the queue as tasks with the student's flags as
predictions and a labelling config naming every policy id; an export read back into the verdict JSONL."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from moddistill.data.records import RowError
from moddistill.errors import UserError
from moddistill.review.label_studio import NONE, labeling_config, read_export, write_tasks
from moddistill.teacher.expert_verdicts import read_expert_verdicts
from tests.conftest import read_jsonl


def annotation(choices, *, who=7, note=None, cancelled=False, at="2026-05-02T14:03:00.5Z"):
    result = [{"from_name": "violations", "to_name": "listing", "type": "choices", "value": {"choices": choices}}]
    if note:
        result.append({"from_name": "note", "to_name": "listing", "type": "textarea", "value": {"text": [note]}})
    return {"completed_by": who, "created_at": "2026-05-01T09:00:00Z", "updated_at": at,
            "was_cancelled": cancelled, "result": result}


def test_tasks_carry_the_listing_why_and_the_students_flags(console, tmp_path):
    tasks_path, config_path = write_tasks(console.queue, console.policy, console.thresholds, tmp_path / "t.json")
    tasks = json.loads(tasks_path.read_text())
    assert [t["data"]["listing_id"] for t in tasks] == console.queue.ids()
    r0 = tasks[0]
    assert r0["data"]["title"].startswith("<script>") and "disagree strongly on weapons" in r0["data"]["why"]
    assert r0["predictions"][0]["result"][0]["value"]["choices"] == ["weapons"]
    assert tasks[1]["predictions"][0]["result"][0]["value"]["choices"] == [NONE]  # r1: nothing over a threshold
    assert "predictions" not in tasks[-1]  # b1: no scores, no prediction
    config = ET.fromstring(config_path.read_text())
    choices = [c.get("value") for c in config.iter("Choice")]
    assert choices == [*console.policy.ids, NONE]
    assert labeling_config(console.policy) == config_path.read_text()


def test_an_export_becomes_the_verdict_jsonl(tmp_path, policy):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([
        {"id": 1, "data": {"listing_id": "r0"}, "annotations": [
            annotation(["weapons"], note="replica"), annotation([NONE], who={"id": 3, "email": "bo@example.com"})]},
        {"id": 2, "data": {"listing_id": "r1"}, "annotations": [annotation([], cancelled=True)]},
        {"id": 3, "data": {"listing_id": "r2"}, "annotations": [annotation([NONE, "drugs"])]},
    ]))
    out = tmp_path / "verdicts.jsonl"
    assert read_export(export, policy, out) == {"tasks": 3, "verdicts": 3, "skipped": 1}
    assert read_jsonl(out) == [
        {"id": "r0", "violations": ["weapons"], "reviewer": "label-studio-user-7", "time": "2026-05-02T14:03:00.5Z",
         "note": "replica"},
        {"id": "r0", "violations": [], "reviewer": "bo@example.com", "time": "2026-05-02T14:03:00.5Z"},
        {"id": "r2", "violations": ["drugs"], "reviewer": "label-studio-user-7", "time": "2026-05-02T14:03:00.5Z"}]
    back = read_expert_verdicts([out], policy)
    assert [c.id for c in back.conflicts] == ["r0"] and back.standing["r2"].violations == ("drugs",)


@pytest.mark.parametrize("tasks, error", [
    ([{"data": {"listing_id": "r0"}, "annotations": [annotation(["weaponz"])]}],
     "task 1, annotation 1, field 'violations[0]': policy id 'weaponz'"),
    ([{"data": {"text": "x"}, "annotations": []}], "task 1, field 'data.listing_id'"),
    ([{"data": {"listing_id": "r0"}, "annotations": [{"completed_by": 1, "updated_at": "2026-01-01", "result": [
        {"from_name": "sentiment", "value": {"choices": ["x"]}}]}]}],
     "task 1, annotation 1, field 'result.violations'"),
    ([{"data": {"listing_id": "r0"}, "annotations": [annotation(["weapons"], at="yesterday") | {"created_at": None}]}],
     "task 1, annotation 1, field 'time'"),
])
def test_a_bad_task_names_file_task_annotation_and_field(tmp_path, policy, tasks, error):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    with pytest.raises(RowError) as e:
        read_export(export, policy, tmp_path / "out.jsonl")
    assert str(e.value).startswith(f"{export}, {error}")
    assert not (tmp_path / "out.jsonl").exists()


def test_not_an_export_is_one_line(tmp_path, policy):
    bad = tmp_path / "export.json"
    bad.write_text('{"tasks": []}')
    with pytest.raises(UserError, match="not a Label Studio JSON export .expected a list of tasks"):
        read_export(bad, policy, tmp_path / "out.jsonl")
    bad.write_text("[{")
    with pytest.raises(UserError, match="not a Label Studio JSON export"):
        read_export(bad, policy, tmp_path / "out.jsonl")
