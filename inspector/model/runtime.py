"""Backend-independent classifier runtime: preprocessing, test-time views, probabilities, heatmaps."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from inspector.domain import Prediction, Verdict
from inspector.errors import ModelError
from inspector.model.card import ModelCard
from inspector.model.feature_bank import FeatureBank, content_cells, image_descriptor
from inspector.model.preprocess import Canvas, Placement, apply_view, canvas_hw, invert_view, prepare_batch
from inspector.model.verdict import decide


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def image_descriptors(features: np.ndarray, placements: list[Placement]) -> np.ndarray:
    """Each image's descriptor (per-channel mean and spread over its content cells), N x 2C."""
    cells = [content_cells(p, features.shape[2:]) for p in placements]
    return np.stack([image_descriptor(features[i, :, rows, cols]) for i, (rows, cols) in enumerate(cells)])


def image_distances(bank: FeatureBank, features: np.ndarray, placements: list[Placement]) -> np.ndarray:
    """Each image's distance to the nearest good training image (the image bank alone)."""
    return bank.images.distances(image_descriptors(features, placements))


def image_only_score(cal, p_anomaly: np.ndarray, image_distance: np.ndarray) -> np.ndarray:
    """A banked gate's anomaly score from p(anomaly) and the image distance, the windows left out:
    the calibration's mix (feature_bank.Calibration.combine) with the image distance in their place."""
    p = np.clip(np.asarray(p_anomaly, dtype=np.float64), 1e-6, 1 - 1e-6)
    z_p = (np.log(p) - np.log1p(-p) - cal.p_mean) / cal.p_std
    z_g = (np.log(np.maximum(image_distance, 1e-6)) - cal.g_mean) / cal.g_std
    return sigmoid(cal.p_weight * z_p + (1.0 - cal.p_weight) * z_g - 2.0)


def heatmap_for(defect_map: np.ndarray, placement: Placement, canvas: Canvas, shape: tuple[int, int]
                ) -> np.ndarray:
    """Defect-map probabilities upsampled to the canvas, cropped to the content, resized to the image."""
    height, width = canvas_hw(canvas)
    full = cv2.resize(defect_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    p = placement
    content = full[p.top:p.top + p.height, p.left:p.left + p.width]
    return cv2.resize(content, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


class BundleRuntime:
    """Shared predict() logic; a backend supplies `_forward(batch) -> (logits, defect_map[, features])`."""

    card: ModelCard
    max_batch: int = 16
    gate: BundleRuntime | None = None  # attached good-only anomaly gate (loader sets it)
    bank: FeatureBank | None = None    # a gate's good-patch feature bank (its third ONNX output)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _views_forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """View-averaged class and defect-map probabilities, plus the identity view's features."""
        views = self.card.tta_views or ["identity"]
        n = len(batch)
        # Each view copied once, straight into the network's input (0.18 ms a part less than
        # copying it contiguous and then concatenating: 4 views at 320 px are 1.6 MB).
        stacked = np.empty((len(views) * n, *batch.shape[1:]), dtype=np.float32)
        for i, v in enumerate(views):
            stacked[i * n:(i + 1) * n] = apply_view(batch, v)
        outs = self._forward_chunked(stacked)
        logits, maps = outs[0], outs[1]
        probs = np.mean([softmax(logits[i * n:(i + 1) * n]) for i in range(len(views))], axis=0)
        dmaps = np.mean([invert_view(sigmoid(maps[i * n:(i + 1) * n]), v)
                         for i, v in enumerate(views)], axis=0)
        features = None
        if len(outs) > 2:
            # The bank holds upright training patches: compare the upright view's features.
            k = views.index("identity") if "identity" in views else 0
            features = invert_view(outs[2][k * n:(k + 1) * n], views[k])
        return probs, dmaps, features

    def forward_views(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and defect-map probabilities averaged over the card's views."""
        probs, dmaps, _ = self._views_forward(batch)
        return probs, dmaps

    def _forward_chunked(self, batch: np.ndarray) -> list[np.ndarray]:
        # max_batch counts network inputs (views included): activations at 320 px cost ~3 MB an
        # input per layer, and ONNX Runtime's arena keeps its peak, so this bounds resident memory.
        step = max(1, self.max_batch)
        outs = [self._forward(batch[i:i + step]) for i in range(0, len(batch), step)]
        return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]

    def defect_score(self, probs: np.ndarray) -> np.ndarray:
        good = [self.card.classes.index(c) for c in self.card.good_classes]
        return 1.0 - probs[:, good].sum(axis=1)

    @property
    def is_gate(self) -> bool:
        """A good-only bundle: its defect score is itself an anomaly score."""
        return self.card.recipe == "good-only"

    def raw_gate_scores(self, batch: np.ndarray, placements: list[Placement]
                        ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None, np.ndarray]:
        """(probs, p(anomaly), the bank's raw distances or None, defect maps) of a gate.

        The heatmap stays the defect map: on the magnetic-tile test defects its peak fell inside
        the mask for 52.6% of them, the per-patch distance map's for 44.9%.
        """
        probs, dmaps, features = self._views_forward(batch)
        distances = None
        if self.bank is not None and features is not None:
            distances = (self.bank.score_parts(features, placements) if self.uses_windows else
                         {"image_distance": image_distances(self.bank, features, placements)})
        return probs, self.defect_score(probs), distances, dmaps

    def gate_descriptors(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A banked gate's (p(anomaly) N, image descriptors N x 2C) for uint8 images, as served."""
        batch, placements = prepare_batch(images, self.card.canvas)
        probs, _, features = self._views_forward(batch)
        if features is None:
            raise ModelError(f"{self.card.name} has no feature output to describe images by")
        return self.defect_score(probs), image_descriptors(features, placements)

    @property
    def uses_windows(self) -> bool:
        """Whether a banked gate scores its window distances (card feature_bank.window_bank, default
        true). Without them it scores the image bank alone: the window search is most of a gate's
        cost (4,096 good windows against every window of the part)."""
        return (bool((self.card.feature_bank or {}).get("window_bank", True))
                or self.bank is None or self.bank.images is None)

    def score_batch(self, batch: np.ndarray, placements: list[Placement]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        """(probs, scores, defect maps, a banked gate's raw scores) on prepared inputs.

        A gate with a feature bank scores the calibrated mix of p(anomaly) and the distances.
        """
        if not self.is_gate:
            probs, dmaps = self.forward_views(batch)
            return probs, self.defect_score(probs), dmaps, None
        probs, p_anomaly, distances, dmaps = self.raw_gate_scores(batch, placements)
        if distances is None or self.bank is None:
            return probs, p_anomaly, dmaps, None
        cal = self.bank.calibration
        if cal is None:
            score = p_anomaly
        elif "feature_distance" not in distances:
            score = image_only_score(cal, p_anomaly, distances["image_distance"])
        else:
            score = cal.combine(p_anomaly, distances["feature_distance"], distances.get("image_distance"))
        return probs, score, dmaps, {"p_anomaly": p_anomaly, **distances}

    def score_images(self, images: list[np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Placement]]:
        """(probabilities, scores, defect maps, placements) for uint8 images, prepared like serving."""
        batch, placements = prepare_batch(images, self.card.canvas)
        probs, scores, dmaps, _ = self.score_batch(batch, placements)
        return probs, scores, dmaps, placements

    def anomaly_scores(self, images: list[np.ndarray],
                       prepared: tuple[np.ndarray, list[Placement]] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, list[Placement]]:
        """The attached gate's (anomaly scores, maps, placements); empty without a gate.

        `prepared` is the classifier's (batch, placements) of the same images: the gate reuses it
        where it runs on the same canvas (preparing is deterministic; ~0.4 ms a part saved).
        """
        if self.gate is None:
            return np.zeros(0), np.zeros(0), []
        if prepared is not None and self.gate.card.canvas == self.card.canvas:
            _, scores, dmaps, _ = self.gate.score_batch(*prepared)
            return scores, dmaps, prepared[1]
        _, scores, dmaps, placements = self.gate.score_images(images)
        return scores, dmaps, placements

    @property
    def fusion(self):
        """The calibration fusing the attached gate in, or None when the bundle fuses no gate."""
        return self.card.fused if self.gate is not None else None

    def fused_scores(self, own_scores: np.ndarray, anomaly: np.ndarray) -> np.ndarray | None:
        """The defect score with the attached gate fused in, or None when the bundle fuses no gate."""
        return None if self.fusion is None else self.fusion.combine(own_scores, anomaly)

    def own_ng(self) -> float | None:
        """Fused: the classifier's own NG threshold, which NG also needs (verdict.decide); else None."""
        return None if self.fusion is None else self.fusion.classifier_ng

    def gate_heatmap_shown(self, own_scores: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
        """Where a part's heatmap is the attached gate's rather than the classifier's own.

        OR rule: where the classifier alone would pass the part (the gate flagged it). Fused: never.
        The classifier's map located defects better there, even where the gate led the fused
        score (magnetic-tile val, label-only seed 1: peak inside the mask 61.0% vs 55.9%).
        """
        if self.gate is None or self.card.fusion is not None:
            return np.zeros(len(own_scores), dtype=bool)
        return np.asarray(own_scores) < self.card.thresholds.review

    def predict(self, images: Sequence[np.ndarray], heatmaps: bool = True) -> list[Prediction]:
        """Classify a batch of uint8 images (gray or BGR); heatmaps for NG/REVIEW when asked.

        With a gate attached, a part the classifier passes goes to REVIEW when the gate fires,
        and its heatmap is then the gate's. With the gate fused in, the defect score is the fused
        score and the heatmap the classifier's; a part flagged NG by the fused score that the
        classifier alone would not call NG goes to REVIEW.
        """
        if len(images) == 0:
            return []
        images = list(images)
        batch, placements = prepare_batch(images, self.card.canvas)
        probs, scores, dmaps, _ = self.score_batch(batch, placements)
        anomaly, gate_maps, gate_places = self.anomaly_scores(images, (batch, placements))
        by_gate = self.gate_heatmap_shown(scores, anomaly)
        own, own_ng, fused = scores, self.own_ng(), self.fused_scores(scores, anomaly)
        if fused is not None:
            scores = fused
        out = []
        for i, image in enumerate(images):
            a_score = float(anomaly[i]) if self.gate is not None else (
                float(scores[i]) if self.is_gate else None)
            verdict = decide(float(scores[i]), self.card.thresholds, a_score, float(own[i]), own_ng)
            heat = None
            if heatmaps and verdict is not Verdict.OK:
                heat = (heatmap_for(gate_maps[i, 0], gate_places[i], self.gate.card.canvas,
                                    image.shape[:2]) if by_gate[i] else
                        heatmap_for(dmaps[i, 0], placements[i], self.card.canvas, image.shape[:2]))
            out.append(Prediction(
                label=self.card.classes[int(probs[i].argmax())],
                scores={c: float(probs[i, k]) for k, c in enumerate(self.card.classes)},
                defect_score=float(scores[i]), verdict=verdict, heatmap=heat, anomaly_score=a_score,
            ))
        return out
