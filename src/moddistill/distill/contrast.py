"""Labelled rows beside the teacher's: the policy's own examples and contrast sets.

The policy file lists violating examples and allowed look-alikes per policy; they are labelled by the policy itself
(a violating example violates its policy and any ``also_violates``; a look-alike is allowed under every policy). A
contrast set is a listings file with its labels file (authored for the sample, or ``scripts/generate.py`` output
labelled by ``scripts/label.py``). Both pass the same leakage guard and grouped split as the teacher's rows
(``distill/data.py``), so the validation split holds look-alikes for the threshold rule to respect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from moddistill.data.listings import read_listings
from moddistill.data.policy import Policy
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.replay import LabelledListing, replay_teacher

log = logging.getLogger(__name__)


def policy_example_rows(policy: Policy, *, weight: int = 1) -> list[LabelledListing]:
    """Every example of the policy file as a labelled row, provenance ``policy``."""
    rows = []
    for example in policy.examples:
        probs = {pid: float(pid in example.violates) for pid in policy.ids}
        kind = "allowed look-alike" if example.is_lookalike else "violating example of " + ", ".join(example.violates)
        label = TeacherLabel(example.listing.id, probs, f"policy {policy.id} v{policy.version}: {kind}",
                             {"backend": "policy", "source": policy.source, "policy": policy.id,
                              "policy_version": policy.version})
        rows.append(LabelledListing(example.listing, label, origin="policy", weight=weight))
    return rows


@dataclass
class ContrastReport:
    sets: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return "contrast sets: " + ("; ".join(f"{s['labels']}: {s['rows']} rows ({s['allowed']} allowed), weight "
                                              f"{s['weight']}" for s in self.sets) or "none")


def contrast_rows(sets: Sequence[Mapping[str, Any]], policy: Policy, *, on_error: str = "raise",
                  rejects_dir: str | Path | None = None) -> tuple[list[LabelledListing], ContrastReport]:
    """The rows of each contrast set (``{listings, labels, weight}``): its listings joined to its labels exactly as
    the replay teacher joins the sample's (a listing without a label is an error)."""
    rows, report = [], ContrastReport()
    for i, spec in enumerate(sets):
        rejects = Path(rejects_dir) / f"contrast_{i}" if rejects_dir else None
        listings, _ = read_listings(spec["listings"], on_error=on_error,
                                    rejects_path=rejects / "listings_rejects.jsonl" if rejects else None)
        joined, _, _, _ = replay_teacher(listings, spec["labels"], policy, on_error=on_error, rejects_dir=rejects)
        weight = int(spec.get("weight", 1))
        labelled = [LabelledListing(r.listing, r.label, origin="contrast", weight=weight) for r in joined]
        rows += labelled
        report.sets.append({"listings": str(spec["listings"]), "labels": str(spec["labels"]), "rows": len(labelled),
                            "allowed": sum(r.is_lookalike for r in labelled), "weight": weight})
    return rows, report
