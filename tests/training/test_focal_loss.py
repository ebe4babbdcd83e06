"""Focal weighting of the class loss: off leaves the loss unchanged, on lets hard images steer it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
import torch.nn.functional as F

from inspector.errors import ConfigError
from training.batches import _Item, to_batch
from training.loop import LossConfig, losses
from training.options import check_args, get_args_parser


class FreeLogits(torch.nn.Module):
    """A fake network whose per-image class logits are free parameters (the defect map is flat)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits.clone())

    def forward(self, x):
        return self.logits[: x.shape[0]], torch.zeros(x.shape[0], 1, 4, 4)


def _batch(labels: list[int]):
    # seg weight 0: only the class loss is left
    return to_batch([_Item(np.zeros((32, 32), np.float32), np.zeros((32, 32), np.uint8), k, seg=0.0)
                     for k in labels])


def _class_loss(model, labels: list[int], gamma: float, smoothing: float = 0.0) -> torch.Tensor:
    cfg = LossConfig(mil_weight=0.0, aux_weight=0.0, label_smoothing=smoothing, focal_gamma=gamma)
    return losses(model, _batch(labels), torch.device("cpu"), cfg)[0]


# image 0 is classified with confidence (p(label) ~ 0.98), image 1 is hard (p(label) ~ 0.2)
LOGITS = torch.tensor([[6.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0]])
LABELS = [0, 0]


def test_off_is_the_plain_cross_entropy():
    plain = float(F.cross_entropy(LOGITS, torch.tensor(LABELS)))
    assert float(_class_loss(FreeLogits(LOGITS), LABELS, 0.0).detach()) == pytest.approx(plain)


def test_each_image_is_weighted_by_one_minus_its_label_probability_to_the_gamma():
    p = torch.softmax(LOGITS, dim=1)[:, 0]
    ce = F.cross_entropy(LOGITS, torch.tensor(LABELS), reduction="none", label_smoothing=0.1)
    expected = float(((1 - p) ** 2 * ce).mean())
    got = float(_class_loss(FreeLogits(LOGITS), LABELS, 2.0, smoothing=0.1).detach())
    assert got == pytest.approx(expected, rel=1e-5)
    assert got < 0.7 * float(ce.mean())  # the sure image's share is all but gone


def test_the_hard_image_steers_the_gradient():
    def grad_share(gamma: float) -> float:
        model = FreeLogits(LOGITS)
        _class_loss(model, LABELS, gamma).backward()
        norms = model.logits.grad.norm(dim=1)
        return float(norms[1] / norms.sum())

    plain, focal = grad_share(0.0), grad_share(2.0)
    assert plain > 0.9  # even the plain loss is mostly the hard image's...
    assert focal > plain  # ...and focal weighting leaves the sure one less still
    easy_plain = 1 - plain
    assert (1 - focal) < 0.1 * easy_plain


@pytest.mark.parametrize("gamma", ["0.5", "-1", "6"])
def test_gamma_outside_0_or_1_to_5_is_refused_before_training(gamma: str):
    args = get_args_parser().parse_args(["data", "--out", "o", "--focal-gamma", gamma])
    with pytest.raises(ConfigError, match="focal-gamma"):
        check_args(args)
