"""Label smoothing of the class loss: off leaves the loss unchanged, on bounds how sure a fit gets."""

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

CLASSES = 6


class FreeLogits(torch.nn.Module):
    """A fake network whose class logits are free parameters (the defect map is flat)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits.clone())

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1), torch.zeros(x.shape[0], 1, 4, 4)


def _batch(label: int):
    # seg weight 0: only the class loss is left, so the figures below are the cross-entropy alone
    return to_batch([_Item(np.zeros((32, 32), np.float32), np.zeros((32, 32), np.uint8), label, seg=0.0)])


def _class_loss(model, smoothing: float, label: int = 2) -> torch.Tensor:
    cfg = LossConfig(mil_weight=0.0, aux_weight=0.0, label_smoothing=smoothing)
    return losses(model, _batch(label), torch.device("cpu"), cfg)[0]


def test_off_is_the_plain_cross_entropy_and_on_charges_a_sure_fit():
    logits = torch.tensor([[0.0, 0.0, 12.0, 0.0, 0.0, 0.0]])
    plain = float(F.cross_entropy(logits, torch.tensor([2])))
    assert float(_class_loss(FreeLogits(logits), 0.0).detach()) == pytest.approx(plain)
    assert plain < 1e-3
    assert float(_class_loss(FreeLogits(logits), 0.1).detach()) > 0.5  # 0.1 of the target is off the label


def test_a_smoothed_fit_stops_short_of_certainty():
    model = FreeLogits(torch.zeros(1, CLASSES))
    opt = torch.optim.SGD(model.parameters(), lr=2.0)
    for _ in range(500):
        opt.zero_grad()
        _class_loss(model, 0.1).backward()
        opt.step()
    p = torch.softmax(model.logits.detach(), dim=1)[0]
    # the smoothed target is 0.9 + 0.1/6 on the label and 0.1/6 elsewhere; the fit lands on it
    assert float(p[2]) == pytest.approx(0.9 + 0.1 / CLASSES, abs=1e-3)
    assert float(p[0]) == pytest.approx(0.1 / CLASSES, abs=1e-3)


def test_smoothing_outside_0_to_1_is_refused_before_training():
    args = get_args_parser().parse_args(["data", "--out", "o", "--set", "label_smoothing=1.0"])
    with pytest.raises(ConfigError, match="label_smoothing"):
        check_args(args)
