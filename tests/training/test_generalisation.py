"""Not only magnetic-tile: long narrow parts (100 x 500 px), two classes ok/defect, hairline defects,
image labels only. The default recipe on a tiny network must tell defects from good parts it never saw."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.datasets import scan_dataset
from inspector.model import metrics
from inspector.model.evaluation import score_samples
from inspector.model.loader import load_classifier
from tests.training.long_parts import make_long_parts
from training.train import get_args_parser, main

# A tiny network and a short schedule; the rest is the labels-only recipe's default.
TINY = ["--set", "input_size=192", "--set", "widths=8,8,8,16", "--set", "head_width=8",
        "--set", "crop_size=48", "--set", "crop_steps=6", "--set", "crop_batch=16", "--set", "batch=16",
        "--set", "tta=identity", "--set", "crop_epochs=6", "--set", "epochs=5",
        "--threads", "2", "--no-progress", "--precision", "fp32",
        "--no-gate"]  # the gate is its own training: tests/training/test_good_only.py covers it


def test_long_narrow_parts_with_thin_defects_are_told_apart(tmp_path):
    data = make_long_parts(tmp_path / "parts", ok=40, defect=24, seed=1)
    out = tmp_path / "bundle"
    report = main(get_args_parser().parse_args([str(data), "--out", str(out), *TINY]))
    assert report["recipe"] == "labels-only" and report["classes"] == ["defect", "ok"]
    held_out = make_long_parts(tmp_path / "new", ok=30, defect=30, seed=99)  # parts never seen
    clf = load_classifier(out, "onnx", threads=2)
    scored = score_samples(clf, scan_dataset(held_out, test_fraction=0.0).samples)
    is_defect = np.array([s.label == "defect" for s in scored.samples])
    auroc = metrics.auroc(is_defect, scored.defect_scores)
    assert auroc >= 0.85, f"AUROC {auroc:.3f} on new long parts"
