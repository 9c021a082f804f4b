"""Perturbed copies of training rows, so the student learns that a listing's spelling is not its meaning.

Sellers disguise listings: ``Tr4m4d0l``, ``N a n g s``, ``Amox 500 capsuls``, ``🌿💨 bong``. The policy cases' invariance
checks hold such variants of their own listings and expect the same decision; a student that never saw a perturbed
listing flips on them. ``data.augment`` adds, for a share of the training rows (never validation, never a policy
case), one copy with one perturbation of its title and description and the row's own labels and weight.

Four character-level perturbations, written here rather than taken from an augmentation library: each is a few lines,
they mirror exactly the obfuscations the policy cases test, and they must be deterministic for a run's seed.
Translation and brand swaps, the cases' other variants, need a model or a lexicon and are left out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from moddistill.teacher.replay import LabelledListing

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "A": "4", "E": "3", "I": "1", "O": "0",
        "S": "5", "T": "7"}
EMOJI = ("🔥", "✨", "💯", "🌿", "💨", "💊", "🎁", "⭐", "👍", "📦", "💥", "🍁", "💉", "😎")
WORD = re.compile(r"\w{4,}")  # the words worth disguising: short ones carry little


def leetspeak(text: str, rng: random.Random) -> str:
    """Letters swapped for look-alike digits, in about half the longer words (``Tramadol`` -> ``Tr4m4d0l``)."""
    return WORD.sub(lambda m: "".join(LEET.get(c, c) for c in m.group()) if rng.random() < 0.5 else m.group(), text)


def spacing(text: str, rng: random.Random) -> str:
    """The letters of one or two longer words spaced out (``Nangs`` -> ``N a n g s``)."""
    words = list(WORD.finditer(text))
    chosen = {m.start() for m in rng.sample(words, min(len(words), rng.choice((1, 2))))}
    return WORD.sub(lambda m: " ".join(m.group()) if m.start() in chosen else m.group(), text)


def typo(text: str, rng: random.Random) -> str:
    """A letter dropped, doubled or swapped with its neighbour in about a third of the longer words."""
    def one(m: re.Match) -> str:
        w = m.group()
        if rng.random() >= 1 / 3:
            return w
        i = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            return w[:i] + w[i + 1:]
        if kind == 1:
            return w[:i] + w[i] + w[i:]
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    return WORD.sub(one, text)


def emoji(text: str, rng: random.Random) -> str:
    """One to three emoji before and after."""
    return (" ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3))) + " " + text + " "
            + " ".join(rng.choice(EMOJI) for _ in range(rng.randint(0, 2)))).strip()


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "leetspeak": leetspeak, "spacing": spacing, "typo": typo, "emoji": emoji}


@dataclass
class AugmentReport:
    share: float
    kinds: list[str]
    rows: int = 0  # perturbed copies added
    by_kind: dict[str, int] | None = None


def augment_rows(rows: Sequence[LabelledListing], *, share: float, kinds: Sequence[str],
                 seed: int) -> tuple[list[LabelledListing], AugmentReport]:
    """``rows`` followed by one perturbed copy of each of a seeded ``share`` of them (kind drawn per row); a copy's
    id is its row's plus ``~<kind>``."""
    report = AugmentReport(share, list(kinds), by_kind={k: 0 for k in kinds})
    if not share or not kinds or not rows:
        return list(rows), report
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(rows)), round(share * len(rows))))
    copies = []
    for i in chosen:
        row, kind = rows[i], rng.choice(list(kinds))
        perturb = PERTURBATIONS[kind]
        listing = replace(row.listing, id=f"{row.listing.id}~{kind}", title=perturb(row.listing.title, rng),
                          description=perturb(row.listing.description, rng))
        copies.append(replace(row, listing=listing))
        report.by_kind[kind] += 1
    report.rows = len(copies)
    return [*rows, *copies], report
