"""Exponential moving average of a network's weights: a steadier model to validate and ship."""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A copy of the network whose weights trail the trained ones by an exponential average.

    The raw weights jump from step to step (a one-cycle schedule at a high learning rate), so a
    checkpoint picked on a small val split is partly picked by luck; the average moves smoothly.
    BatchNorm statistics are averaged like the weights; integer buffers are copied.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        # state_dict tensors share storage with the modules, and the optimiser updates the trained
        # weights in place, so the pairs stay valid for the whole run.
        averaged, trained = self.module.state_dict(), model.state_dict()
        self._pairs = [(averaged[k], trained[k]) for k in averaged]

    def decay_now(self) -> float:
        """The decay for the next update: short memory at first, so the start is not frozen in."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average one step towards the trained weights."""
        weight = 1.0 - self.decay_now()
        self.updates += 1
        for avg, now in self._pairs:
            if avg.dtype.is_floating_point:
                avg.lerp_(now, weight)
            else:
                avg.copy_(now)
