"""Shared fixtures: a synthetic dataset and a tiny trained model bundle (seconds to train)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.synthetic import make_dataset

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "magnetic-tile-sample"

TINY_ARGS = ["--set", "input_size=64", "--set", "crop_size=32", "--crop-epochs", "3", "--set", "crop_steps=4",
             "--set", "crop_batch=8", "--epochs", "3", "--set", "batch=8", "--set", "widths=8,8,8,8",
             "--set", "head_width=8", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiles", per_class=12)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, synthetic_dataset) -> Path:
    """A real bundle (model.pt, model.onnx, card.json) from the real training code, tiny and fast."""
    pytest.importorskip("torch")
    from training.train import get_args_parser, main

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    main(get_args_parser().parse_args([str(synthetic_dataset), "--out", str(out), *TINY_ARGS]))
    return out


@pytest.fixture(scope="session")
def sample_dataset() -> Path:
    """The shipped magnetic-tile sample (a few real images per class)."""
    return SAMPLE


@pytest.fixture(autouse=True)
def _api_on_a_free_port(monkeypatch):
    """Stations started by tests serve their API on a free port, never a fixed one in use."""
    monkeypatch.setenv("INSPECTOR_API_PORT", "0")
