"""Training-test fixtures: a small good-only gate trained once on synthetic good tiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.synthetic import make_dataset

# Enough training for a clear margin on the synthetic tiles (a few seconds on one thread).
GATE_ARGS = ["--set", "input_size=64", "--set", "crop_size=32", "--crop-epochs", "20",
             "--set", "crop_steps=8", "--set", "crop_batch=16", "--epochs", "10", "--set", "batch=16",
             "--set", "widths=8,8,8,8",
             "--set", "head_width=8", "--no-progress", "--threads", "1", "--set", "tta=identity",
             "--seed", "1"]


@pytest.fixture(scope="session")
def gate(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from training.train import get_args_parser, main

    root = make_dataset(tmp_path_factory.mktemp("good") / "d", per_class=40, masks=False,
                        classes=("free",))
    out = tmp_path_factory.mktemp("gates") / "gate"
    main(get_args_parser().parse_args([str(root), "--out", str(out), "--good-only", *GATE_ARGS]))
    return out


@pytest.fixture
def gated(tmp_path, tiny_bundle, gate) -> Path:
    """A copy of the tiny classifier with the gate attached as an OR rule."""
    from inspector.model.gate import attach_gate

    dst = tmp_path / "classifier"
    shutil.copytree(tiny_bundle, dst)
    attach_gate(dst, gate)
    return dst


@pytest.fixture(scope="session")
def fuse_data(tmp_path_factory) -> Path:
    """Enough tiles that the stratified val split holds several good parts to calibrate on."""
    return make_dataset(tmp_path_factory.mktemp("fuse") / "d", per_class=30, seed=5, masks=False)


@pytest.fixture
def fused(tmp_path, tiny_bundle, gate, fuse_data) -> Path:
    """A copy of the tiny classifier with the gate fused into its defect score (calibrated on val)."""
    from inspector.datasets import scan_dataset
    from inspector.model.gate import attach_and_fuse
    from inspector.model.thresholds import ThresholdRule

    dst = tmp_path / "fused"
    shutil.copytree(tiny_bundle, dst)
    attach_and_fuse(dst, gate, scan_dataset(fuse_data).split("val"), ThresholdRule())
    return dst
