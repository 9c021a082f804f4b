"""The ``replay`` teacher: stored teacher output (and expert verdicts in its place) joined to listings by id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from moddistill.data.listings import Listing
from moddistill.data.policy import Policy
from moddistill.data.records import ReadReport, RowError, write_jsonl
from moddistill.teacher.expert_verdicts import apply_verdicts, read_expert_verdicts
from moddistill.teacher.labels import TeacherLabel, read_teacher_labels


@dataclass(frozen=True)
class LabelledListing:
    listing: Listing
    label: TeacherLabel
    origin: str = "teacher"  # teacher (expert verdicts included) | policy (the policy's examples) | contrast
    weight: int = 1  # how many times the row counts in training (distill/data.py repeats it)

    @property
    def is_lookalike(self) -> bool:
        """An allowed row from the policy's examples or a contrast set: those are look-alikes by construction (the
        teacher's own rows carry no such mark)."""
        return self.origin != "teacher" and max(self.label.probs.values(), default=0.0) < 0.5


@dataclass
class JoinReport:
    listings: int
    labelled: int
    unlabelled: int
    unused_labels: int

    def summary(self) -> str:
        return (
            f"teacher labels: {self.labelled} of {self.listings} listings labelled, "
            f"{self.unlabelled} without a label, {self.unused_labels} labels for unknown listings ignored"
        )


def join_labels(
    listings: list[Listing],
    labels: dict[str, TeacherLabel],
    *,
    on_error: str = "raise",
    rejects_path: str | Path | None = None,
    labels_path: str = "teacher labels",
) -> tuple[list[LabelledListing], JoinReport]:
    """Pair each listing with its label; a listing with no label is an error (or a reject with skip)."""
    joined, rejects = [], []
    for listing in listings:
        label = labels.get(listing.id)
        if label is None:
            file, location = listing.where()
            err = RowError(file or "<listings>", location or f"id {listing.id}", "id",
                           f"no teacher label for listing {listing.id!r} in {labels_path}")
            if on_error == "raise":
                raise err
            rejects.append({"file": err.file, "location": err.location, "field": err.field, "reason": err.reason,
                            "row": listing.to_dict()})
            continue
        joined.append(LabelledListing(listing, label))
    if rejects:
        if rejects_path is None:
            raise ValueError("on_error='skip' needs a rejects_path to write unlabelled listings to")
        write_jsonl(rejects_path, rejects)
    used = {j.listing.id for j in joined}
    report = JoinReport(len(listings), len(joined), len(rejects), sum(1 for k in labels if k not in used))
    return joined, report


def replay_teacher(
    listings: list[Listing], labels_path: str | Path, policy: Policy, *, expert_verdicts: Sequence[str | Path] = (),
    on_error: str = "raise", rejects_dir: str | Path | None = None,
) -> tuple[list[LabelledListing], ReadReport, JoinReport, dict]:
    """Read stored teacher output, put expert verdicts in place of the teacher's labels, and join the labels to
    ``listings``. Verdicts go in before the join, so a listing only an expert labelled trains too. Returns the
    joined rows, the label file's read report, the join report and the verdicts' counts."""
    rejects_dir = Path(rejects_dir) if rejects_dir else None
    labels, read_report = read_teacher_labels(
        labels_path, policy, on_error=on_error, rejects_path=rejects_dir / "teacher_rejects.jsonl" if rejects_dir else None
    )
    verdicts = read_expert_verdicts(expert_verdicts, policy, on_error=on_error, rejects_dir=rejects_dir)
    labels, expert_report = apply_verdicts(labels, verdicts, {x.id for x in listings}, policy)
    joined, join_report = join_labels(
        listings, labels, on_error=on_error, labels_path=str(labels_path),
        rejects_path=rejects_dir / "unlabelled_rejects.jsonl" if rejects_dir else None,
    )
    return joined, read_report, join_report, expert_report
