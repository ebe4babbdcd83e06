"""The bundles shipped under weights/ load on the lean ONNX path and judge the shipped sample."""

import dataclasses
from pathlib import Path

import pytest

from inspector.datasets import scan_dataset
from inspector.model.card import ModelCard, Thresholds
from inspector.model.evaluation import evaluate
from inspector.model.loader import load_classifier
from tests.conftest import SAMPLE

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
SHIPPED = sorted(p.name for p in WEIGHTS.iterdir() if (p / "card.json").is_file())


@pytest.fixture(scope="module")
def sample():
    return scan_dataset(SAMPLE, seed=0, val_fraction=0.0, test_fraction=0.0).samples


def test_the_three_bundles_are_shipped():
    assert SHIPPED == ["magnetic-tile", "magnetic-tile-good-only", "magnetic-tile-labels-only"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_names_its_folder_and_its_recipe(name):
    card = ModelCard.load(WEIGHTS / name)
    assert card.name == name and card.command.startswith("inspector train ")
    assert card.metrics["test"]["n"] == 268  # figures on the magnetic-tile test split
    assert card.recipe == {"magnetic-tile": "mask-supervised", "magnetic-tile-labels-only": "labels-only",
                           "magnetic-tile-good-only": "good-only"}[name]


def test_default_model_flags_every_sample_defect_and_passes_the_good_parts(sample):
    result = evaluate(load_classifier(WEIGHTS / "magnetic-tile"), sample)
    assert result["n"] == 28 and result["defect_recall"] == 1.0 and result["false_reject_rate"] == 0.0
    by_class = result["auroc_by_defect_class"]  # every sample defect outscores every good part
    assert set(by_class) == {"blowhole", "break", "crack", "fray", "uneven"}
    assert all(v == 1.0 for v in by_class.values())


def test_evaluation_names_the_missed_defects_and_the_rejected_good_parts(sample):
    model = load_classifier(WEIGHTS / "magnetic-tile")
    good = sorted(f"{s.label}/{s.path.name}" for s in sample if s.label == "free")
    assert evaluate(model, sample)["false_rejects"] == []
    model.card = dataclasses.replace(model.card, thresholds=Thresholds(ng=1.0, review=1e-9))
    everything = evaluate(model, sample)  # every part flagged: every good part is a false reject
    assert sorted(everything["false_rejects"]) == good and everything["missed_defects"] == []
    n_defect = len(sample) - len(good)
    flagged = everything["verdicts_by_truth"]  # (a defect scoring exactly 1.0 would be NG)
    assert flagged["good"] == {"REVIEW": len(good)} and "OK" not in flagged["defect"]
    assert sum(flagged["defect"].values()) == n_defect
    model.card = dataclasses.replace(model.card, thresholds=Thresholds(ng=1.0, review=1.0))
    nothing = evaluate(model, sample)
    assert nothing["false_rejects"] == [] and len(nothing["missed_defects"]) == n_defect
    assert nothing["verdicts_by_truth"] == {"good": {"OK": len(good)}, "defect": {"OK": n_defect}}


def test_good_only_gate_ranks_sample_defects_above_good_parts(sample):
    result = evaluate(load_classifier(WEIGHTS / "magnetic-tile-good-only"), sample)
    assert result["auroc"] > 0.85  # 0.925 for the shipped two-scale gate (0.7 would pass p(anomaly) alone)
    assert set(result["score_components_auroc"]) == {"p_anomaly", "feature_distance", "image_distance"}
    assert result["verdicts"].get("NG", 0) == 0  # a gate only ever asks for a review


def test_labels_only_bundle_fuses_the_shipped_gate():
    card = ModelCard.load(WEIGHTS / "magnetic-tile-labels-only")
    gate = ModelCard.load(WEIGHTS / "magnetic-tile-good-only")
    assert card.fusion is not None and card.thresholds.anomaly is None
    # The fused copy must be the gate shipped beside it: a rescored gate needs a refitted fusion.
    assert card.gate_card.feature_bank == gate.feature_bank
    assert card.gate_card.thresholds == gate.thresholds
    bundle, source = WEIGHTS / "magnetic-tile-labels-only", WEIGHTS / "magnetic-tile-good-only"
    for copied, original in (("anomaly.onnx", "model.onnx"), ("anomaly_bank.npy", "bank.npy"),
                             ("anomaly_image_bank.npz", "image_bank.npz")):
        assert (bundle / copied).read_bytes() == (source / original).read_bytes()
