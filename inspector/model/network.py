"""The segmentation-assisted defect network (torch): an encoder, a defect map and a decision head."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from inspector.errors import ModelError


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SegDecNet(nn.Module):
    """Encoder at output stride 8 -> 1x1 defect map; decision head on [features, map] -> classes.

    After Tabernik et al. 2019, except that the class loss trains the whole network (no
    gradient stop), which the feasibility runs found decisive on small defect classes.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, widths: tuple[int, ...] = (32, 32, 48, 64),
                 head_width: int = 64) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.encoder = nn.Sequential(
            _conv(in_channels, w1, k=5, stride=2),
            nn.MaxPool2d(2),
            _conv(w1, w2), _conv(w2, w2),
            nn.MaxPool2d(2),
            _conv(w2, w3), _conv(w3, w3),
            _conv(w3, w4, dilation=2), _conv(w4, w4, dilation=4),
        )
        self.defect_map = nn.Conv2d(w4, 1, kernel_size=1)
        self.decision = nn.Sequential(
            nn.MaxPool2d(2), _conv(w4 + 1, head_width),
            nn.MaxPool2d(2), _conv(head_width, head_width),
        )
        self.classifier = nn.Linear(2 * head_width + 2, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (class logits N x K, defect-map logits N x 1 x H/8 x W/8)."""
        return self._heads(self.encoder(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, defect map, patch features N x (w2 + w4) x H/8 x W/8) for the gate's feature bank.

        A patch is described by the stride-4 block (pooled to stride 8) and the encoder's output,
        each averaged over its 3 x 3 neighbourhood: fine texture plus wider context.
        """
        mid = self.encoder[:4](x)
        features = self.encoder[4:](mid)
        logits, dmap = self._heads(features)
        patches = torch.cat([F.avg_pool2d(mid, 2), features], dim=1)
        return logits, dmap, F.avg_pool2d(patches, 3, stride=1, padding=1, count_include_pad=False)

    def _heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dmap = self.defect_map(features)
        head = self.decision(torch.cat([features, dmap], dim=1))
        pooled = torch.cat([
            torch.amax(head, dim=(2, 3)), torch.mean(head, dim=(2, 3)),
            torch.amax(dmap, dim=(2, 3)), torch.mean(dmap, dim=(2, 3)),
        ], dim=1)
        return self.classifier(pooled), dmap


class WithFeatures(nn.Module):
    """Export wrapper: a network whose forward also returns its patch features (gate bundles)."""

    def __init__(self, net: SegDecNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net.forward_with_features(x)


class SegDecEnsemble(nn.Module):
    """Several SegDecNets averaged: class logits are the log of the members' mean probabilities
    (so a softmax gives that mean exactly), the defect map is the mean of their map logits."""

    def __init__(self, num_classes: int, in_channels: int = 1, widths: tuple[int, ...] = (32, 32, 48, 64),
                 head_width: int = 64, members: int = 2) -> None:
        super().__init__()
        if members < 1:
            raise ModelError(f"an ensemble needs at least one member, got {members}")
        self.members = nn.ModuleList(SegDecNet(num_classes, in_channels, widths, head_width)
                                     for _ in range(members))

    @classmethod
    def of(cls, nets: list[nn.Module]) -> SegDecEnsemble:
        """An ensemble holding these trained networks themselves (not copies)."""
        ensemble = cls(num_classes=1, members=1)  # a placeholder member, replaced at once
        ensemble.members = nn.ModuleList(nets)
        return ensemble

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(x) for member in self.members]
        log_probs = torch.stack([F.log_softmax(logits, dim=1) for logits, _ in outputs])
        mean_log_prob = torch.logsumexp(log_probs, dim=0) - math.log(len(outputs))
        return mean_log_prob, torch.stack([dmap for _, dmap in outputs]).mean(dim=0)


ARCHITECTURES = {"segdec": SegDecNet, "segdec-ensemble": SegDecEnsemble}


def build_network(arch: str, num_classes: int, in_channels: int = 1, **params) -> nn.Module:
    """Build a network by its card name; unknown names are a ModelError."""
    try:
        factory = ARCHITECTURES[arch]
    except KeyError:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    if "widths" in params:
        params["widths"] = tuple(params["widths"])
    return factory(num_classes=num_classes, in_channels=in_channels, **params)
