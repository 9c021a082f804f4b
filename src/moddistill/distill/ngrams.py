"""Hashed character and word n-grams: the student's second input channel.

An English WordPiece encoder turns Thai into ``[UNK]`` and splits obfuscated words ("gl0ck", "w h a t s a p p")
into noise; character n-grams keep both. The features are scikit-learn's ``HashingVectorizer`` (MurmurHash3,
seed 0, no sign flip), so they need no fitted vocabulary and any service can reproduce them from the spec that
the model config carries. Each listing becomes a bag of bucket ids with sublinear, L2-normalised weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from moddistill.distill.settings import NGRAM_FITS as FITS


@dataclass(frozen=True)
class NgramSpec:
    buckets: int = 2**18
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    # joint: trained with the encoder by SGD; stacked: a frozen logistic regression (C) fitted first (ngram_fit.py)
    fit: str = "joint"
    C: float = 10.0

    def __post_init__(self):
        if self.fit not in FITS:
            raise ValueError(f"model.ngram.fit must be one of {FITS}, got {self.fit!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "NgramSpec":
        return cls(int(d["buckets"]), tuple(d["char_ngrams"]), tuple(d["word_ngrams"]), str(d.get("fit", "joint")),
                   float(d.get("C", 10.0)))

    def to_dict(self) -> dict:
        return {"buckets": self.buckets, "char_ngrams": list(self.char_ngrams), "word_ngrams": list(self.word_ngrams),
                "fit": self.fit, "C": self.C,
                "hash": "sklearn HashingVectorizer (murmurhash3_32, seed 0, alternate_sign=False), lowercase; "
                        "char_wb n-grams in buckets [0, buckets/2), word n-grams in [buckets/2, buckets); "
                        "weight 1 + log(count), times the bucket's IDF (saved with the model's channel), "
                        "L2-normalised per listing"}


def ngram_matrix(texts: Sequence[str], spec: NgramSpec) -> sp.csr_matrix:
    """(len(texts), spec.buckets) sparse features, rows L2-normalised."""
    half = spec.buckets // 2
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=spec.char_ngrams, n_features=half,
                              alternate_sign=False, norm=None)
    words = HashingVectorizer(analyzer="word", ngram_range=spec.word_ngrams, n_features=half,
                              alternate_sign=False, norm=None)
    x = sp.hstack([chars.transform(texts), words.transform(texts)], format="csr").astype(np.float32)
    x.data = 1.0 + np.log(x.data)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x).tocsr()


def ngram_bags(texts: Sequence[str], spec: NgramSpec) -> tuple[list[list[int]], list[list[float]]]:
    """Per text: the bucket ids and their weights (ragged lists, padded later by the collator)."""
    x = ngram_matrix(texts, spec)
    ids = [x.indices[x.indptr[i]:x.indptr[i + 1]].tolist() for i in range(x.shape[0])]
    weights = [x.data[x.indptr[i]:x.indptr[i + 1]].tolist() for i in range(x.shape[0])]
    return ids, weights


def pad_bags(ids: Sequence[Sequence[int]], weights: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the longest bag; padding has weight 0, so it adds nothing."""
    width = max((len(b) for b in ids), default=0) or 1
    out_ids = np.zeros((len(ids), width), dtype=np.int64)
    out_w = np.zeros((len(ids), width), dtype=np.float32)
    for i, (b, w) in enumerate(zip(ids, weights)):
        out_ids[i, : len(b)] = b
        out_w[i, : len(w)] = w
    return out_ids, out_w
