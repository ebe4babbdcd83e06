"""One training step and the validation forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from training.batches import Batch

STRIDE = 8  # the network's output stride: the defect map is 1/8 of the input
PRECISIONS = ("fp32", "bf16")  # what a training's forward passes compute in (weights stay float32)
AUTO_PRECISION = "auto"         # bf16 where it is known to be fast, else fp32 (resolve_precision)


def autocast(device: torch.device, precision: str):
    """The forward-pass context of a precision: bf16 autocast (AMX/AVX-512 CPUs and GPUs run it at
    about twice float32's speed), or plain float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def fast_bf16(device: torch.device | str) -> bool:
    """Whether bf16 autocast is known to run faster than float32 on this device: CPUs with AMX bf16
    tiles (measured about twice as fast a step, docs/experiments/issue8-results.md). AVX-512 bf16 without AMX
    and GPUs are unmeasured, so they keep float32."""
    if torch.device(device).type != "cpu":
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("amx_bf16", False))


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """A concrete precision for a requested one: auto becomes bf16 where that is fast, else fp32."""
    if requested == AUTO_PRECISION:
        return "bf16" if fast_bf16(device) else "fp32"
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; known: {', '.join(PRECISIONS)}, auto")
    return requested


@dataclass(frozen=True)
class LossConfig:
    """Loss weights: pixel BCE (defect pixels up-weighted), synthetic 'not good', map max (MIL),
    and the class target's smoothing."""

    pos_weight: float = 10.0
    use_seg: bool = True
    good_index: int = 0
    aux_weight: float = 0.5
    mil_weight: float = 0.5
    label_smoothing: float = 0.0  # share of the class target spread over all classes


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (values * weights).sum() / weights.sum().clamp_min(1e-6)


def losses(model: torch.nn.Module, batch: Batch, device: torch.device, cfg: LossConfig,
           precision: str = "fp32") -> tuple[torch.Tensor, float, float]:
    """Cross-entropy on the class plus pixel BCE on the defect map, plus the label-only terms."""
    with autocast(device, precision):
        logits, dmap = model(batch.images.to(device))
    logits, dmap = logits.float(), dmap.float()  # the losses in float32 whatever the forward ran in
    cls_w = batch.cls_weight.to(device)
    labels = batch.labels.to(device)
    per_sample_ce = F.cross_entropy(logits, labels, reduction="none", label_smoothing=cfg.label_smoothing)
    cls_loss = _weighted_mean(per_sample_ce, cls_w)
    total = cls_loss
    seg_value = 0.0
    seg_w = batch.seg_weight.to(device)
    if cfg.use_seg and float(batch.seg_weight.sum()) > 0:
        target = F.max_pool2d(batch.masks.to(device), STRIDE)
        per_pixel = F.binary_cross_entropy_with_logits(
            dmap, target, reduction="none", pos_weight=torch.tensor(cfg.pos_weight, device=device))
        per_sample = per_pixel.mean(dim=(1, 2, 3))
        seg_loss = _weighted_mean(per_sample, seg_w)
        total = total + seg_loss
        seg_value = float(seg_loss.detach())
    if cfg.aux_weight > 0 and float(batch.aux_weight.sum()) > 0:
        # -log(1 - p(good)) = logsumexp(all) - logsumexp(defect classes), stable in logits.
        others = torch.cat([logits[:, :cfg.good_index], logits[:, cfg.good_index + 1:]], dim=1)
        not_good = torch.logsumexp(logits, dim=1) - torch.logsumexp(others, dim=1)
        total = total + cfg.aux_weight * _weighted_mean(not_good, batch.aux_weight.to(device))
    if cfg.mil_weight > 0 and float(batch.mil_weight.sum()) > 0:
        peak = torch.amax(dmap, dim=(1, 2, 3))
        mil = F.binary_cross_entropy_with_logits(peak, torch.ones_like(peak), reduction="none")
        total = total + cfg.mil_weight * _weighted_mean(mil, batch.mil_weight.to(device))
    return total, float(cls_loss.detach()), seg_value


def train_step(model, optimizer, scheduler, batch: Batch, device, cfg: LossConfig,
               precision: str = "fp32") -> tuple[float, float]:
    model.train()
    loss, cls_value, seg_value = losses(model, batch, device, cfg, precision)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return cls_value, seg_value


@torch.inference_mode()
def predict_probs(model: torch.nn.Module, canvases: np.ndarray, device, batch: int = 32,
                  precision: str = "fp32") -> np.ndarray:
    """Class probabilities (single view) for prepared N x 1 x H x W canvases."""
    model.eval()
    out = []
    for i in range(0, len(canvases), batch):
        x = torch.from_numpy(canvases[i:i + batch]).to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits, _ = model(x)
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
