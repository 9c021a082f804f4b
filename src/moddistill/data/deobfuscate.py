"""Undo the cheap disguises sellers use to slip past keyword filters: ``kn1fe``, ``S i a n i d a``, ``5Omg``.

The rendering ``listing-text-v2`` applies ``deobfuscate`` to the title and description, so a model reads
``knife`` where the seller wrote ``kn1fe`` and learns one word instead of every spelling of it. The rules are few
and written out in ``DEOBFUSCATE_RULES`` (the export's manifest carries them), so a service in another language
can reproduce them; ``tests/data/test_deobfuscate.py`` holds one example of each.

What it costs: a product code with a look-alike digit between letters reads differently (``G7x`` -> ``Gtx``), the
same way in training, evaluation and serving, so the model learns it as rendered.
"""

from __future__ import annotations

import re
import unicodedata

DEOBFUSCATE_RULES = (
    "1. three or more single letters or digits (each with its combining marks) separated by single spaces are "
    "joined (K K K -> KKK; a double space still separates); "
    "2. O or o right after a digit, before at most three letters and a word's end, is 0 (5Omg -> 50mg); "
    "3. the look-alike digits are 0 1 3 4 5 7 $ for o i e a s t s; a word of letters and digits is leetspeak when "
    "a run of one or two look-alikes sits between two letters, not both upper case (kn1fe, not Y15ZR), or when it starts with one look-alike "
    "followed by three letters that are not a unit (0nly, not 3pcs); every look-alike of such a word that is not "
    "part of a longer number is read as its letter (upper case between upper-case letters); "
    "4. when rule 3 changed two or more words of a text, a look-alike between upper-case letters is read too, and so "
    "is a word of letters with one or two look-alikes at its end (fr33), or one at its start before letters that "
    "are not a unit (m3 is read, 1kg is not)"
)
UNITS = frozenset(
    "x k g l m h d w v st nd rd th mg ml cc kg gb tb mb mm cm oz lb gr pc pk hr yr ct ft in lbs mah pcs pax set sets "
    "pack pair pairs ply way day days hrs min mins yrs inch".split()
)

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s"}
_L = re.escape("".join(_LEET))
_LETTER = r"[^\W\d_]"


def _mark_class() -> str:
    """A regex class of the combining marks (Unicode categories M*; the Basic Multilingual Plane holds those of
    every script a marketplace lists in), so ``น์`` counts as one spelled-out letter."""
    marks = [chr(c) for c in range(0x10000) if unicodedata.category(chr(c)).startswith("M")]
    return "[" + "".join(re.escape(m) for m in marks) + "]"


_MARK = _mark_class()
_EDGE_OF_SPACED = rf"(?<![^\W_])(?<!{_MARK})", rf"(?![^\W_]|{_MARK})"
_SPACED = re.compile("|".join(rf"{_EDGE_OF_SPACED[0]}{one}(?: {one}){{2,}}{_EDGE_OF_SPACED[1]}"
                              for one in (rf"{_LETTER}{_MARK}*", r"\d")))
_ZERO = re.compile(rf"(?<![^\W_])(\d+)(O+)(?=\d|{_LETTER}{{0,3}}\b)")  # 5Omg, 42O; not N2O
_WORD = re.compile(r"[^\W_](?:[^\W_]|\$(?=[^\W_]))*")  # letters and digits, with $ inside
_SANDWICH = re.compile(rf"(?<={_LETTER})[{_L}]{{1,2}}(?={_LETTER})")
_QUANTITY = re.compile(r"^\d\d|^\d+x\d", re.IGNORECASE)  # 10cc, 15x15cm, 3x5ft: numbers, not words
_LEADING = re.compile(rf"^[{_L}]({_LETTER}+)")
_TRAILING = re.compile(rf"^{_LETTER}+[{_L}]{{1,2}}$")
_EDGES = re.compile(rf"^[{_L}]?({_LETTER}+)[{_L}]{{0,2}}$")


def deobfuscate(text: str) -> str:
    text = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _ZERO.sub(lambda m: m.group(1) + "0" * len(m.group(2)), text)
    leet = [m for m in _WORD.finditer(text) if _is_leet(m.group(0))]
    if len(leet) >= 2:  # the text is written in leetspeak: read its words more boldly
        leet = [m for m in _WORD.finditer(text) if _is_leet(m.group(0), capitals=True) or _is_edge_leet(m.group(0))]
    for m in reversed(leet):
        text = text[:m.start()] + _as_letters(m.group(0)) + text[m.end():]
    return text


def _is_leet(w: str, capitals: bool = False) -> bool:
    """Rule 3; a look-alike between upper-case letters reads as a product code (Y15ZR) unless ``capitals``."""
    if _QUANTITY.match(w):
        return False
    if any(capitals or not (s.group(0) + w[s.start() - 1] + w[s.end()]).isupper() for s in _SANDWICH.finditer(w)):
        return True
    lead = _LEADING.match(w)
    return bool(lead) and len(lead.group(1)) >= 3 and lead.group(1).lower() not in UNITS


def _is_edge_leet(w: str) -> bool:
    """A word of letters with look-alikes at its edges only (``fr33``, ``m3``, ``3mbroidered``, not ``1kg``)."""
    edges = _EDGES.match(w)
    if not edges or edges.group(0) == edges.group(1):
        return False
    return bool(_TRAILING.match(w)) or edges.group(1).lower() not in UNITS


def _as_letters(w: str) -> str:
    """Every look-alike of the word that is not part of a longer number, read as its letter."""
    out = list(w)
    for run in re.finditer(r"[\d$]+", w):
        if len(run.group(0)) > 2 or any(c not in _LEET for c in run.group(0)):
            continue
        for i in range(run.start(), run.end()):
            around = [c for c in w[max(run.start() - 1, 0):run.end() + 1] if c.isalpha()]
            letter = _LEET[w[i]]
            out[i] = letter.upper() if around and all(c.isupper() for c in around) else letter
    return "".join(out)
