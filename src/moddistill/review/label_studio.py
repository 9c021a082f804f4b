"""For teams that already run Label Studio: the review queue as Label Studio tasks (with the student's flags as
predictions, and a labelling config naming the policy's ids), and Label Studio's JSON export back into the verdict
JSONL (``teacher/expert_verdicts.py``), every row checked by that module's own validation. Files only: no Label
Studio server is needed, or contacted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import quoteattr

from moddistill.data.policy import Policy
from moddistill.data.records import Row, write_jsonl
from moddistill.errors import UserError
from moddistill.review.queues import Queue
from moddistill.review.store import stored
from moddistill.teacher.expert_verdicts import parse_verdict_row

CHOICES, NOTE, TEXT = "violations", "note", "listing"  # the config's control names, which the reader looks for
NONE = "(none)"  # the choice for "violates no policy" (not a possible policy id: ids start with a letter)
MODEL_VERSION = "moddistill student"


def labeling_config(policy: Policy) -> str:
    """The Label Studio labelling config the tasks are written for: the listing, one choice per policy id (and
    NONE), a note."""
    choices = "\n".join(f"    <Choice value={quoteattr(p.id)} hint={quoteattr(p.name)}/>" for p in policy.policies)
    return (f"<View>\n  <Header value=\"$title\"/>\n  <Text name=\"{TEXT}\" value=\"$text\"/>\n"
            f"  <Choices name=\"{CHOICES}\" toName=\"{TEXT}\" choice=\"multiple\" showInline=\"true\">\n{choices}\n"
            f"    <Choice value=\"{NONE}\"/>\n  </Choices>\n"
            f"  <TextArea name=\"{NOTE}\" toName=\"{TEXT}\" editable=\"true\" maxSubmissions=\"1\"/>\n</View>\n")


def write_tasks(queue: Queue, policy: Policy, thresholds: Mapping[str, float], path: str | Path) -> tuple[Path, Path]:
    """``path``: one task per queued listing, its prediction the student's flags (at the export's thresholds; the
    automatic decision where the queue file has one); ``<stem>.label_config.xml`` beside it. Returns both paths."""
    tasks = []
    for item in queue.items.values():
        x = item.listing
        flagged = [p for p in policy.ids if p in thresholds and item.scores.get(p, 0.0) >= thresholds[p]]
        if not thresholds and item.decision is not None:
            flagged = list(item.decision)
        text = f"{x.description}\n\n{x.category} | {x.price:g} {x.currency} | market {x.market}, language {x.language}"
        task: dict[str, Any] = {"data": {"listing_id": item.id, "title": x.title, "text": text,
                                         "why": " | ".join(r.why for r in item.routes),
                                         "scores": item.scores}}
        if item.scores:
            task["predictions"] = [{"model_version": MODEL_VERSION, "score": max(item.scores.values()),
                                    "result": [{"from_name": CHOICES, "to_name": TEXT, "type": "choices",
                                                "value": {"choices": flagged or [NONE]}}]}]
        tasks.append(task)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks, indent=2, ensure_ascii=False), encoding="utf-8")
    config = path.with_name(path.stem + ".label_config.xml")
    config.write_text(labeling_config(policy), encoding="utf-8")
    return path, config


def _reviewer(annotation: Mapping[str, Any]) -> Any:
    """Label Studio names the annotator by user id (JSON export) or as a user object (with its email)."""
    who = annotation.get("completed_by")
    if isinstance(who, Mapping):
        return who.get("email") or (f"label-studio-user-{who['id']}" if "id" in who else None)
    return f"label-studio-user-{who}" if isinstance(who, int) and not isinstance(who, bool) else who


def _verdict(row: Row, annotation: Mapping[str, Any]) -> dict:
    results = annotation.get("result")
    if not isinstance(results, list):
        raise row.error("result", "missing: not an annotation of a Label Studio JSON export")
    choices = [r for r in results if isinstance(r, Mapping) and r.get("from_name") == CHOICES]
    if not choices:
        raise row.error(f"result.{CHOICES}", f"no '{CHOICES}' choice: annotated with another labelling config than "
                                             "the one write_tasks wrote?")
    picked = (choices[0].get("value") or {}).get("choices")
    if not isinstance(picked, list):
        raise row.error(f"result.{CHOICES}.value.choices", f"expected a list of policy ids, got {picked!r}")
    notes = [r for r in results if isinstance(r, Mapping) and r.get("from_name") == NOTE]
    note = " ".join((notes[0].get("value") or {}).get("text") or []) if notes else ""
    return {"id": row.data["listing_id"], "violations": [p for p in picked if p != NONE],
            "reviewer": _reviewer(annotation), "time": annotation.get("updated_at") or annotation.get("created_at"),
            "note": note}


def read_export(path: str | Path, policy: Policy, output: str | Path) -> dict[str, int]:
    """Label Studio's JSON export as verdict JSONL at ``output``: one verdict per submitted annotation (a skipped
    one is left out); a bad task or annotation is one error naming file, task, annotation and field."""
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a Label Studio JSON export ({e})") from None
    if not isinstance(tasks, list):
        raise UserError(f"{path}: not a Label Studio JSON export (expected a list of tasks, got "
                        f"{type(tasks).__name__})")
    rows, skipped = [], 0
    for i, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("listing_id"), str):
            raise Row(str(path), f"task {i}", {}).error("data.listing_id", "missing: not a task write_tasks wrote")
        for j, annotation in enumerate(task.get("annotations") or [], start=1):
            if not isinstance(annotation, Mapping):
                raise Row(str(path), f"task {i}, annotation {j}", {}).error("<annotation>", "expected an object")
            if annotation.get("was_cancelled"):
                skipped += 1
                continue
            row = Row(str(path), f"task {i}, annotation {j}", data)
            verdict = _verdict(row, annotation)
            v = parse_verdict_row(Row(row.file, row.location, verdict), policy)
            rows.append(stored(v, str(path)).verdict_row())
    write_jsonl(output, rows)
    return {"tasks": len(tasks), "verdicts": len(rows), "skipped": skipped}
