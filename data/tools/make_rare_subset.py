#!/usr/bin/env python
"""A two-policy set with a rare policy, cut from the review_abuse set: every listing is kept except spam positives
beyond the first N (in file order), so `spam` falls to about 6% positives beside `abuse` at about 15%. It shows what
one global threshold does to a rare policy (README, "What decided the recipe"); written under checkpoints/, never
committed:

    .venv/bin/python data/tools/make_rare_subset.py [--keep-spam 55] [--out checkpoints/data/review_rare]
    .venv/bin/python scripts/train.py experiment=review_abuse data.listings=checkpoints/data/review_rare/listings.jsonl \\
        teacher.labels=checkpoints/data/review_rare/teacher_labels.jsonl threshold_strategy=adaptive
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "data" / "review_abuse"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-spam", type=int, default=55)
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "data" / "review_rare")
    args = parser.parse_args(argv)
    labels = [json.loads(line) for line in (SOURCE / "teacher_labels.jsonl").read_text(encoding="utf-8").splitlines()]
    spam = [r["id"] for r in labels if r["labels"]["spam"] >= 0.5]
    dropped = set(spam[args.keep_spam:])
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("listings.jsonl", "teacher_labels.jsonl"):
        lines = (SOURCE / name).read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if json.loads(line)["id"] not in dropped]
        (args.out / name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    n = len(labels) - len(dropped)
    abuse = sum(r["labels"]["abuse"] >= 0.5 for r in labels if r["id"] not in dropped)
    print(f"{args.out}: {n} listings, spam {min(len(spam), args.keep_spam)} ({min(len(spam), args.keep_spam) / n:.1%}), "
          f"abuse {abuse} ({abuse / n:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
