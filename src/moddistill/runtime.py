"""Load an export and predict: what a serving team runs.

Needs transformers + torch only (no peft, no Hydra); inputs are rendered with the same
``render_listing`` the model was trained with, and the manifest's render version is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import moddistill.distill.student  # noqa: F401 - registers the student architecture with transformers' Auto classes
from moddistill.listings import RENDER_VERSION, Listing, read_listings, render_listing
from moddistill.manifest import verify_export
from moddistill.records import ReadReport
from moddistill.scoring import score_texts


@dataclass
class ExportedModel:
    dir: Path
    manifest: dict
    model: object
    tokenizer: object

    @classmethod
    def load(cls, export_dir: str | Path) -> "ExportedModel":
        manifest = verify_export(export_dir)
        if manifest["render_version"] != RENDER_VERSION:
            raise ValueError(f"{export_dir}: trained on inputs rendered as {manifest['render_version']!r}, "
                             f"this moddistill renders {RENDER_VERSION!r}")
        model = AutoModelForSequenceClassification.from_pretrained(export_dir)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if labels != manifest["labels"]:
            raise ValueError(f"{export_dir}: config.id2label {labels} disagrees with the manifest {manifest['labels']}")
        return cls(Path(export_dir), manifest, model.eval(), AutoTokenizer.from_pretrained(export_dir))

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    def score(self, listings: Sequence[Listing], batch_size: int = 64) -> np.ndarray:
        return score_texts(self.model, self.tokenizer, [render_listing(x) for x in listings],
                           max_length=self.manifest["max_length"], batch_size=batch_size, desc="predicting")

    def predict(self, listings: Sequence[Listing], batch_size: int = 64) -> list[dict]:
        """One row per listing, in order: scores per policy and the policies at or above their threshold."""
        scores = self.score(listings, batch_size)
        thresholds = self.manifest["thresholds"]
        return [
            {"id": x.id, "scores": {p: round(float(s), 6) for p, s in zip(self.labels, row)},
             "flagged": [p for p, s in zip(self.labels, row) if s >= thresholds[p]]}
            for x, row in zip(listings, scores)
        ]


def predict_file(
    export_dir: str | Path, input_path: str | Path, output_path: str | Path, *, on_error: str = "raise",
    columns: Mapping[str, str] | None = None, batch_size: int = 64, allow_empty: bool = False,
) -> tuple[ReadReport, dict[str, int], dict]:
    """Predict every listing in ``input_path`` into ``output_path`` (JSONL); returns the read report, how
    many listings each policy flagged, and the export's manifest."""
    output_path = Path(output_path)
    listings, report = read_listings(input_path, on_error=on_error, columns=columns, allow_empty=allow_empty,
                                     rejects_path=output_path.with_suffix(".rejects.jsonl"))
    exported = ExportedModel.load(export_dir)
    rows = exported.predict(listings, batch_size)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    flagged = {p: sum(p in r["flagged"] for r in rows) for p in exported.labels}
    return report, flagged, exported.manifest
