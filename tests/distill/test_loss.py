import math

import numpy as np
import pytest
import torch

from moddistill.distill.loss import positive_weights, soft_bce_loss


def _bce(z: float, y: float) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


LOGITS = [[2.0, -1.0], [0.5, 3.0]]
LABELS = [[1.0, 0.0], [0.3, 0.0]]


def test_plain_loss_is_the_mean_bce_over_elements():
    loss = soft_bce_loss(None)({"logits": torch.tensor(LOGITS)}, torch.tensor(LABELS))
    expected = np.mean([_bce(z, y) for zs, ys in zip(LOGITS, LABELS) for z, y in zip(zs, ys)])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # divided by the Trainer's item count when it passes one (gradient accumulation, several processes)
    summed = soft_bce_loss(None)({"logits": torch.tensor(LOGITS)}, torch.tensor(LABELS), num_items_in_batch=2)
    assert summed.item() == pytest.approx(expected * 4 / 2, rel=1e-6)


def test_focal_scales_each_term_by_its_distance_from_the_label():
    loss = soft_bce_loss(None, focal_gamma=2.0)({"logits": torch.tensor(LOGITS)}, torch.tensor(LABELS))
    terms = [abs(y - 1 / (1 + math.exp(-z))) ** 2 * _bce(z, y) for zs, ys in zip(LOGITS, LABELS) for z, y in zip(zs, ys)]
    assert loss.item() == pytest.approx(np.mean(terms), rel=1e-6)
    # the hard pair (negative scored at sigmoid(3) = 0.95) dominates; the easy ones almost vanish
    assert max(terms) == terms[3] and terms[3] > 0.9 * sum(terms)


def test_focal_factor_carries_no_gradient():
    logits = torch.tensor([[3.0]], requires_grad=True)
    soft_bce_loss(None, focal_gamma=2.0)({"logits": logits}, torch.tensor([[0.0]])).backward()
    p = torch.sigmoid(torch.tensor(3.0)).item()
    assert logits.grad.item() == pytest.approx(p ** 2 * p, rel=1e-5)  # |0 - p|^2 * dBCE/dz, dBCE/dz = p - 0


def test_focal_gamma_is_checked():
    with pytest.raises(ValueError, match="focal_gamma"):
        soft_bce_loss(None, focal_gamma=-1)


def test_positive_weights_balanced_is_negatives_over_positives_clipped():
    labels = np.array([[1, 0], [0, 0], [0, 0], [0, 0], [1, 0.01]])
    w = positive_weights(labels, "balanced", max_weight=10.0)
    assert w.tolist() == pytest.approx([1.5, 10.0])
    assert positive_weights(labels, "none") is None
    assert positive_weights(labels, 3).tolist() == [3.0, 3.0]
