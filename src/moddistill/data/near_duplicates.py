"""Near-duplicate detection by word-trigram Jaccard similarity.

Used to keep policy cases out of training data (leakage guard), to keep near-duplicate listings on one
side of the validation split, and by the data tests. Text is normalised first so that trivial
obfuscations (case, accents, leetspeak inside words, s p a c e d letters) do not hide a duplicate.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from typing import Sequence

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_TOKEN = re.compile(r"[\w@$]+")


def normalize_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    tokens = [t.strip("_") for t in _TOKEN.findall(text)]
    # re-join runs of single characters: "w h a t s a p p" -> "whatsapp", "g l 0 c k" -> "gl0ck"
    merged: list[str] = []
    run: list[str] = []
    for tok in tokens + [""]:
        if len(tok) == 1:
            run.append(tok)
            continue
        if len(run) >= 3 and any(c.isalpha() for c in run):
            merged.append("".join(run))
        else:
            merged.extend(run)
        run = []
        if tok:
            merged.append(tok)
    # undo leetspeak inside words that mix letters and digits: "gl0ck" -> "glock" (but "13" stays)
    return [t.translate(_LEET) if any(c.isalpha() for c in t) and not t.isalpha() else t for t in merged]


def shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    tokens = normalize_tokens(text)
    if len(tokens) < n:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def near_duplicate_pairs(
    left: Sequence[str], right: Sequence[str] | None = None, *, threshold: float = 0.8, n: int = 3
) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for every pair with Jaccard >= threshold.

    With ``right=None`` the pairs are within ``left`` (i < j). An inverted index over shingles keeps this
    near-linear for the sizes we meet (thousands of listings against hundreds of cases).
    """
    left_sh = [shingles(t, n) for t in left]
    right_sh = left_sh if right is None else [shingles(t, n) for t in right]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for j, sh in enumerate(right_sh):
        for s in sh:
            index[s].append(j)
    pairs = []
    for i, sh in enumerate(left_sh):
        shared = Counter(j for s in sh for j in index.get(s, ()))
        for j, inter in shared.items():
            if right is None and j <= i:
                continue
            sim = inter / (len(sh) + len(right_sh[j]) - inter)
            if sim >= threshold:
                pairs.append((i, j, sim))
    return pairs


def duplicate_groups(texts: Sequence[str], *, threshold: float = 0.5) -> list[int]:
    """A group id per text: texts linked by a chain of near-duplicate pairs share a group."""
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in near_duplicate_pairs(texts, threshold=threshold):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(texts))]
