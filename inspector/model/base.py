"""The Classifier protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from inspector.domain import Prediction
from inspector.model.card import ModelCard


class Classifier(Protocol):
    """Turns images (uint8 gray or BGR arrays) into predictions with verdicts."""

    card: ModelCard

    def predict(self, images: Sequence[np.ndarray], heatmaps: bool = True) -> list[Prediction]:
        """Classify a batch; heatmaps are computed for NG/REVIEW predictions when asked."""
        ...
