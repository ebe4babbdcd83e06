"""One training step and the validation forward pass."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from training.batches import Batch

STRIDE = 8  # the network's output stride: the defect map is 1/8 of the input


def losses(model: torch.nn.Module, batch: Batch, device: torch.device, pos_weight: float,
           use_seg: bool) -> tuple[torch.Tensor, float, float]:
    """Cross-entropy on the class plus pixel BCE on the defect map (defect pixels weighted)."""
    logits, dmap = model(batch.images.to(device))
    cls_loss = F.cross_entropy(logits, batch.labels.to(device))
    seg_value = 0.0
    total = cls_loss
    if use_seg and float(batch.seg_weight.sum()) > 0:
        target = F.max_pool2d(batch.masks.to(device), STRIDE)
        per_pixel = F.binary_cross_entropy_with_logits(
            dmap, target, reduction="none", pos_weight=torch.tensor(pos_weight, device=device))
        per_sample = per_pixel.mean(dim=(1, 2, 3)) * batch.seg_weight.to(device)
        seg_loss = per_sample.sum() / batch.seg_weight.sum().to(device)
        total = total + seg_loss
        seg_value = float(seg_loss.detach())
    return total, float(cls_loss.detach()), seg_value


def train_step(model, optimizer, scheduler, batch: Batch, device, pos_weight: float,
               use_seg: bool) -> tuple[float, float]:
    model.train()
    loss, cls_value, seg_value = losses(model, batch, device, pos_weight, use_seg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return cls_value, seg_value


@torch.inference_mode()
def predict_probs(model: torch.nn.Module, canvases: np.ndarray, device, batch: int = 32) -> np.ndarray:
    """Class probabilities (single view) for prepared N x 1 x H x W canvases."""
    model.eval()
    out = []
    for i in range(0, len(canvases), batch):
        x = torch.from_numpy(canvases[i:i + batch]).to(device).contiguous(memory_format=torch.channels_last)
        logits, _ = model(x)
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
