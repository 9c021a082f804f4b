"""One example of each de-obfuscation rule (data/deobfuscate.py), and what each rule must leave alone."""

import pytest

from moddistill.data.deobfuscate import deobfuscate


@pytest.mark.parametrize("text, expected", [
    # 1. spelled-out letters and digits are joined; a double space still separates words
    ("K K K  r o b e  and h o o d", "KKK  robe  and hood"),
    ("S i a n i d a murni", "Sianida murni"),
    ("WA 0 8 1 2 - 3 4 5", "WA 0812 - 345"),
    ("แอด ไ ล น์ ด่วน", "แอด ไลน์ ด่วน"),  # a letter with its combining mark is one letter
    # 2. a letter O after a digit is a zero
    ("N1c salt 3Oml 5Omg", "Nic salt 30ml 50mg"),
    ("Tramadol 1OOmg", "Tramadol 100mg"),
    ("office 2O21", "office 2021"),
    # 3. leetspeak words
    ("OTF kn1fe dual 4ction", "OTF knife dual action"),
    ("sh00ts r4zor sh4rp, 0nly", "shoots razor sharp, only"),
    ("N30dym1um magnets", "Neodymium magnets"),
    ("ca$h only", "cash only"),
    ("kn1FE", "kniFE"),  # one lower-case neighbour is enough; the letter is upper case only between capitals
    ("sh0p101 kn1fe fr0m 10cc 1kg", "shop101 knife from 10cc 1kg"),  # a run of three digits stays a number
    ("0nly today", "only today"),  # one look-alike before three letters, in a text that is not leetspeak
    ("b2bs0urce", "b2bsource"),  # a digit that stands for no letter is passed over, not the end of the word
    ("kn1fe sh1pping uP3Rs", "knife shipping uPERs"),  # upper case between its two neighbours only
    # 4. in a leetspeak text, look-alikes at a word's edge are read too
    ("fr33 sh1pping, c0ntam fr33, m3", "free shipping, contam free, me"),
    ("3mbr01dered fr0nt, t0", "embroidered front, to"),
    ("P0WDER l1qu1d, n0 BP0M, sh1pping", "POWDER liquid, no BPOM, shipping"),  # capitals too, upper case kept
])
def test_each_rule_reads_the_disguise(text, expected):
    assert deobfuscate(text) == expected


@pytest.mark.parametrize("text", [
    "Nitrous N2O 2kg x3",  # a chemical formula: the O follows a letter's digit
    "16oz 1oz cup, 15x15cm, 3x5ft flag, 60x30x36 box",  # quantities and dimensions
    "10cc 100mg 3pcs 4pack 1st 2nd 3rd 4K 5G",  # units after a number
    "Yamaha Y15ZR RX580 GT710",  # product codes in capitals
    "N30DYM1UM",  # so leetspeak in capitals only is read as one too
    "มี 6 สี ไซส์ S-XL",  # single letters and digits mixed are not spelled-out
    "1 กก. x 5 ถุง",
    "fr33 alone",  # one edge look-alike in a text without leetspeak stays
    "iPhone 14 Pro, 3.5 zaza, 24/7, a b",
    "email seller@example.com",
])
def test_ordinary_text_is_left_alone(text):
    assert deobfuscate(text) == text
