"""Batched inference: listing texts in, per-policy probabilities out, on whatever device accelerate picks."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from moddistill.distill.ngrams import ngram_bags, pad_bags


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on a CUDA device that has it; None (full precision) elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def encode(texts: Sequence[str], tokenizer, config, *, max_length: int, padding: bool | str = True):
    """Model inputs for a batch of texts: tokens, plus n-gram bags when the student has that channel."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=padding, return_tensors="pt")
    spec = getattr(config, "ngram_spec", None)
    if spec is not None:
        ids, weights = pad_bags(*ngram_bags(texts, spec))
        enc["ngram_ids"], enc["ngram_weights"] = torch.from_numpy(ids), torch.from_numpy(weights)
    return enc


@torch.inference_mode()
def score_texts(
    model, tokenizer, texts: Sequence[str], *, max_length: int, batch_size: int = 64, desc: str = "scoring",
    progress: bool = True,
) -> np.ndarray:
    """Sigmoid probabilities, shape (len(texts), num_labels), in the model's label order."""
    device = PartialState().device
    model.to(device).eval()
    dtype = autocast_dtype(device)
    # Batched by token count (one fast tokenizer pass up front) so each batch pads little; results are put back
    # in input order. Sorting by characters instead left 40% of a batch's tokens as padding on the sample.
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    batches = range(0, len(texts), batch_size)
    for start in tqdm(batches, desc=desc, unit="batch", disable=not progress or len(batches) < 2):
        idx = order[start : start + batch_size]
        enc = encode([texts[i] for i in idx], tokenizer, model.config, max_length=max_length).to(device)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            logits = model(**enc).logits
        out[idx] = torch.sigmoid(logits.float()).cpu().numpy()
    return out
