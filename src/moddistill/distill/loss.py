"""Soft-label distillation loss: binary cross-entropy against the teacher's per-policy probabilities."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


def positive_weights(labels: np.ndarray, mode: str | float | None, max_weight: float = 10.0) -> torch.Tensor | None:
    """Per-policy ``pos_weight`` for BCE.

    ``none``: unweighted. ``balanced``: (expected negatives / expected positives) per policy from the soft
    labels, clipped to [1, max_weight], so rare policies are not drowned by the allowed majority. A number:
    the same weight for every policy.
    """
    if mode is None or mode == "none":
        return None
    if mode == "balanced":
        pos = np.asarray(labels, dtype=np.float64).sum(axis=0)
        neg = len(labels) - pos
        return torch.tensor(np.clip(neg / np.maximum(pos, 1e-6), 1.0, max_weight), dtype=torch.float32)
    try:
        weight = float(mode)
    except (TypeError, ValueError):
        raise ValueError(f"pos_weight must be 'none', 'balanced' or a number, got {mode!r}") from None
    return torch.full((np.asarray(labels).shape[1],), weight, dtype=torch.float32)


def soft_bce_loss(pos_weight: torch.Tensor | None, focal_gamma: float = 0.0) -> Callable:
    """A ``compute_loss_func`` for the HF Trainer.

    ``focal_gamma`` > 0 scales each (listing, policy) term by ``|label - p| ** focal_gamma``: the focal loss
    for soft labels (the "quality focal loss" of Li et al., 2020, Generalized Focal Loss). Pairs the model
    already gets right (most of the 12 policies for most listings) fade, and the hard ones, such as an allowed
    look-alike scored high, carry the gradient. The factor is treated as a constant (no gradient through it).

    Sums over elements and divides by ``num_items_in_batch`` when the Trainer passes it, so the loss is a
    true mean across gradient-accumulation steps and processes.
    """
    if focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma!r}")

    def compute(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"].float()
        labels = labels.float()
        weight = pos_weight.to(logits.device) if pos_weight is not None else None
        terms = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight, reduction="none")
        if focal_gamma:
            terms = terms * (labels - torch.sigmoid(logits)).abs().detach() ** focal_gamma
        loss = terms.sum()
        denom = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        return loss / denom

    return compute
