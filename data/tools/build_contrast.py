#!/usr/bin/env python
"""Build the sample's authored contrast set (data/sample/contrast/) from its hand-written source files.

    .venv/bin/python data/tools/build_contrast.py            # writes data/sample/contrast/{listings,labels}.jsonl
                                                             # and the same two files in contrast/languages/
    .venv/bin/python data/tools/build_contrast.py --out DIR  # writes to DIR (and DIR/languages) instead

The source files (``authored_a.jsonl``: weapons .. tobacco_vaping, ``authored_b.jsonl``: adult .. fraud_scams) hold,
per policy, 26 allowed look-alikes and 11 obfuscated or euphemistic violations across the seven languages, written
by hand in the shape of data/sample/authored/ (the author's labels in ``violates``, ``lookalike_of``, a rationale).
``authored_injection.jsonl`` (contrast-v2) adds, per policy, allowed look-alikes whose text tells the moderator to
reject them and violations whose text tells it to approve them: words addressed to a reviewer are the seller's text,
not evidence, and the training data held none. ``authored_c.jsonl`` is a second set, ``languages/`` (ids
ctl-NNNNN): per policy and language 4 more allowed look-alikes and 1 more obfuscated violation, written by authors
who never opened the policy cases. ``data=sample_languages`` trains on both (README, "What decided the recipe").
Each row is validated by the sample builder's own checks (build_sample.parse_authored); a row whose title repeats an
earlier one, or whose text is within word-trigram Jaccard 0.5 of a held-out policy case (stricter than the training
guard's 0.8: a contrast row must not teach a case), is dropped and named. Deterministic: file order, numbered
ct-00001...; labels carry provenance ``authored``, never an LLM's name.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_sample  # noqa: E402  (the sample builder's validation and near-duplicate rules)

CONTRAST_DIR = build_sample.ROOT / "data" / "sample" / "contrast"
CASE_THRESHOLD = 0.5
PROVENANCE = {"backend": "authored", "source": "moddistill authors' contrast set (data/sample/contrast/authored_*.jsonl)",
              "annotators": "the moddistill project's data authors"}


@dataclass(frozen=True)
class ContrastSet:
    subdir: str  # under the output directory ("" for the default set)
    id_prefix: str
    version: str
    sources: tuple[str, ...]


SETS = (ContrastSet("", "ct", "contrast-v2", ("authored_a", "authored_b", "authored_injection")),
        ContrastSet("languages", "ctl", "contrast-languages-v1", ("authored_c",)))


def build(out: Path) -> dict:
    """Every set of ``SETS`` under ``out``; a title may appear once across all of them."""
    policy = build_sample.load_policy(build_sample.ROOT / "conf" / "policy" / "marketplace_v1.yaml")
    cases = build_sample.read_cases()
    warnings: list[str] = []
    seen: set[str] = set()
    summary = {"rows": 0, "dropped": 0}
    for spec in SETS:
        kept, dropped = _build_set(spec, out / spec.subdir, policy, cases, seen, warnings)
        summary["rows"] += kept
        summary["dropped"] += dropped
    for w in warnings:
        print(w, file=sys.stderr)
    return {**summary, "warnings": len(warnings)}


def _build_set(spec: ContrastSet, out: Path, policy, cases, seen: set[str], warnings: list[str]) -> tuple[int, int]:
    recs = []
    for name in spec.sources:
        for lineno, line in enumerate((CONTRAST_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{name}:{lineno}"
            rec = build_sample.parse_authored(json.loads(line), where, policy.ids, warnings)
            key = build_sample.title_key(rec.fields["title"])
            if key in seen:
                warnings.append(f"dropped {where}: repeats an earlier title")
                continue
            seen.add(key)
            recs.append(rec)
    near = {i for i, _, _ in build_sample.near_duplicate_pairs([r.text() for r in recs], cases,
                                                               threshold=CASE_THRESHOLD)}
    near |= build_sample.leaking(recs, cases)
    warnings += [f"dropped {recs[i].origin}: within Jaccard {CASE_THRESHOLD} of a policy case" for i in sorted(near)]
    kept = [r for i, r in enumerate(recs) if i not in near]
    out.mkdir(parents=True, exist_ok=True)
    listings, labels = [], []
    for n, r in enumerate(kept, 1):
        rid = f"{spec.id_prefix}-{n:05d}"
        listings.append({"id": rid, **r.fields})
        labels.append({"id": rid, "labels": r.labels, "rationale": r.rationale,
                       "provenance": {**PROVENANCE, "version": spec.version, "row": r.origin,
                                      "lookalike_of": r.lookalike_of, "obfuscated": r.obfuscated}})
    for name, rows in (("listings", listings), ("labels", labels)):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows),
                                           encoding="utf-8")
    return len(kept), len(recs) - len(kept)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CONTRAST_DIR)
    summary = build(parser.parse_args(argv).out)
    print(f"contrast set: {summary['rows']} rows written, {summary['dropped']} dropped, {summary['warnings']} warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
