"""Training smoke tests: bundles the runtime loads, recipe choice, determinism, corrupt images."""

import json

import pytest

pytest.importorskip("torch")

from inspector.datasets import scan_dataset
from inspector.errors import DatasetError
from inspector.model.loader import load_classifier
from tests.conftest import TINY_ARGS
from tests.synthetic import make_dataset
from training.train import get_args_parser, main, resolve_recipe


def _train(dataset, out, *extra):
    return main(get_args_parser().parse_args([str(dataset), "--out", str(out), *TINY_ARGS, *extra]))


def test_report_and_card_written(tiny_bundle):
    report = json.loads((tiny_bundle / "report.json").read_text())
    assert report["recipe"] == "mask-supervised"
    assert report["args"]["label_smoothing"] == 0.0  # masks teach the classes: plain targets
    assert report["args"]["good_share"] == 0.0  # and every class is drawn by sqrt(count)
    assert report["args"]["crop_margin"] == 0  # and its crops stay inside the image
    assert report["args"]["stop_not_before"] == 0.0  # and it stops early as its shipped bundle did
    assert report["args"]["precision"] == "fp32"
    # REVIEW within the expected 1 % budget, the rule the card keeps for tune-thresholds.
    assert (report["args"]["max_false_reject"], report["args"]["frr_confidence"]) == (0.01, 0.0)
    card_metrics = load_classifier(tiny_bundle).card.metrics
    assert card_metrics["threshold_rule"] == {
        "target_recall": 0.99, "max_false_reject": 0.01, "frr_confidence": 0.0,
        "ng_rule": "above_val_good"}
    # The image-quality limits come from the train images, as the station decodes them.
    assert load_classifier(tiny_bundle).card.quality["fitted_on"] > 0
    # What a bit-for-bit rebuild must match: the CPU kernels the weights were rounded by.
    import torch

    assert card_metrics["trained_on"] == report["compute"]
    assert report["compute"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert report["compute"]["amx_bf16"] == bool(torch.cpu.get_capabilities().get("amx_bf16"))
    assert report["compute"]["threads"] == 1 and report["compute"]["torch"] == torch.__version__
    assert report["skipped_images"]["count"] == 0
    assert [h["phase"] for h in report["history"]].count("full") == 3
    assert {"macro_f1", "defect_recall", "false_reject_rate", "auroc"} <= set(report["val"])
    assert report["thresholds"]["review"] <= report["thresholds"]["ng"]
    # Every val image's score is kept, so thresholds can be re-derived and folds pooled later.
    rows = report["val_scored"]
    assert len(rows) == report["val"]["n"] == sum(report["counts"]["val"].values())
    assert {r["predicted"] for r in rows} <= set(report["classes"])
    good = [r["defect_score"] for r in rows if r["label"] in report["good_classes"]]
    over = sum(g >= report["thresholds"]["review"] for g in good)
    assert report["val"]["expected_false_reject"] == (over + 1) / (len(good) + 1)
    # Two good val images cannot show a 1% false-reject rate: the report says so and how many would.
    assert "collect at least 99 for this budget" in report["threshold_warning"]


def test_labels_only_recipe_chosen_without_masks(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=8, masks=False)
    report = _train(data, tmp_path / "b")
    assert report["recipe"] == "labels-only"
    assert load_classifier(tmp_path / "b").card.recipe == "labels-only"
    assert report["args"]["synth_mix"] == "edges"  # stepped surfaces and edge defects drawn too
    assert report["args"]["label_smoothing"] == 0.1  # class targets smoothed by default
    assert report["args"]["good_share"] == 0.6  # good images drawn more than sqrt(count) would
    # crops past the tile edge: the recipe's 32 px, shrunk to a quarter of the test's 32 px crops
    assert report["args"]["crop_margin"] == 8
    assert report["args"]["stop_not_before"] == 0.75  # no early stop while the learning rate is high
    # The issue-8 false-reject target is spent on recall, as far as val shows it at 95 %.
    assert (report["args"]["max_false_reject"], report["args"]["frr_confidence"]) == (0.05, 0.95)
    # Synthetic defects on good images give the crop phase its pixel loss.
    assert {h["phase"] for h in report["history"]} == {"crops", "full"}
    assert all(h["seg_loss"] > 0 for h in report["history"] if h["phase"] == "crops")
    with pytest.raises(DatasetError, match="needs masks"):
        _train(data, tmp_path / "c", "--recipe", "mask-supervised")


def test_recipe_follows_the_layout(tmp_path):
    with_masks = scan_dataset(make_dataset(tmp_path / "m", per_class=4))
    without = scan_dataset(make_dataset(tmp_path / "n", per_class=4, masks=False))
    assert resolve_recipe("auto", with_masks) == "mask-supervised"
    assert resolve_recipe("auto", without) == "labels-only"
    assert resolve_recipe("labels-only", with_masks) == "labels-only"  # masks may be ignored
    assert resolve_recipe("auto", with_masks, good_only=True) == "good-only"
    assert resolve_recipe("good-only", without) == "good-only"


def test_same_seed_same_model(tmp_path, synthetic_dataset):
    a = _train(synthetic_dataset, tmp_path / "a", "--seed", "3")
    b = _train(synthetic_dataset, tmp_path / "b", "--seed", "3")
    assert a["history"] == b["history"]
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_labels_only_same_seed_same_model(tmp_path):
    # The labels-only recipe draws synthetic defects and locates real ones: all of it seeded.
    data = make_dataset(tmp_path / "d", per_class=8, masks=False)
    # fp32 named: auto picks bf16 or fp32 by the speed it measures, which the load changes
    extra = ("--seed", "2", "--set", "locate_at=0.3", "--precision", "fp32")
    a, b = _train(data, tmp_path / "a", *extra), _train(data, tmp_path / "b", *extra)
    assert a["recipe"] == "labels-only" and a["history"] == b["history"]
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_loader_workers_repeat_for_the_same_count(tmp_path):
    # Forked batch workers: the same run twice for the same worker count, another stream than inline.
    data = make_dataset(tmp_path / "d", per_class=8, masks=False)
    same = ("--seed", "2", "--set", "locate_at=0.3", "--precision", "fp32")
    extra = (*same, "--set", "loader_workers=2")
    a, b = _train(data, tmp_path / "a", *extra), _train(data, tmp_path / "b", *extra)
    inline = _train(data, tmp_path / "c", *same)
    assert a["history"] == b["history"] and a["history"] != inline["history"]
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_corrupt_and_empty_images_are_skipped_and_counted(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=8)
    (data / "images" / "free" / "zero.png").write_bytes(b"")
    (data / "images" / "blob" / "broken.png").write_bytes(b"\x89PNG truncated")
    (data / "split.csv").write_text("image,label,split\n" + "\n".join(
        f"{p.relative_to(data).as_posix()},{p.parent.name},{'val' if p.stem.endswith('1') else 'train'}"
        for p in sorted((data / "images").glob("*/*.png"))) + "\n")
    report = _train(data, tmp_path / "b")
    assert report["skipped_images"]["count"] == 2
    assert any("zero.png" in f for f in report["skipped_images"]["files"])


def test_unknown_good_class_is_clear(tmp_path, synthetic_dataset):
    with pytest.raises(DatasetError, match="not among"):
        _train(synthetic_dataset, tmp_path / "b", "--good-class", "ok")
