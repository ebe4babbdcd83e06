"""The bundles shipped under weights/ load on the lean ONNX path and judge the shipped sample."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inspector import machine
from inspector.cli import app
from inspector.datasets import scan_dataset
from inspector.domain import Verdict
from inspector.model.card import ModelCard, Thresholds
from inspector.model.evaluation import evaluate
from inspector.model.feature_bank import FeatureBank
from inspector.model.loader import load_classifier
from inspector.model.onnx_backend import GATE_INT8_ONNX_FILE, GATE_ONNX_FILE, INT8_ONNX_FILE, weights_hash
from inspector.model.preprocess import prepare_batch, read_image
from inspector.model.runtime import image_only_score
from inspector.model.thresholds import NG_ABOVE_GOOD
from tests.conftest import SAMPLE

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
SHIPPED = sorted(p.name for p in WEIGHTS.iterdir() if (p / "card.json").is_file())
CLASSIFIERS = [n for n in SHIPPED if ModelCard.load(WEIGHTS / n).recipe != "good-only"]
GATE_FILES = (("anomaly.onnx", "model.onnx"), ("anomaly_bank.npy", "bank.npy"),
              ("anomaly_image_bank.npz", "image_bank.npz"))


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


def test_default_model_flags_every_sample_defect_and_scraps_no_good_part(sample):
    result = evaluate(load_classifier(WEIGHTS / "magnetic-tile"), sample)
    assert result["n"] == 28 and result["defect_recall"] == 1.0
    assert result["classifier_only"]["false_reject_rate"] == 0.0
    # The gate's threshold lies above 762 good parts (val, and train left out of its bank): it
    # passes every sample good part (one of them, exp2_num_195672, lay above the 143 val goods).
    assert result["false_rejects"] == [] and result["verdicts_by_truth"]["good"] == {"OK": 8}
    by_class = result["auroc_by_defect_class"]  # every sample defect outscores every good part
    assert set(by_class) == {"blowhole", "break", "crack", "fray", "uneven"}
    assert all(v == 1.0 for v in by_class.values())


def test_evaluation_names_the_missed_defects_and_the_rejected_good_parts(sample):
    model = load_classifier(WEIGHTS / "magnetic-tile")
    good = sorted(f"{s.label}/{s.path.name}" for s in sample if s.label == "free")
    assert evaluate(model, sample)["false_rejects"] == []
    # The gate held off (anomaly 1.0), so that the defect score's thresholds alone decide.
    model.card = dataclasses.replace(model.card, thresholds=Thresholds(ng=1.0, review=1e-9, anomaly=1.0))
    everything = evaluate(model, sample)  # every part flagged: every good part is a false reject
    assert sorted(everything["false_rejects"]) == good and everything["missed_defects"] == []
    n_defect = len(sample) - len(good)
    flagged = everything["verdicts_by_truth"]  # (a defect scoring exactly 1.0 would be NG)
    assert flagged["good"] == {"REVIEW": len(good)} and "OK" not in flagged["defect"]
    assert sum(flagged["defect"].values()) == n_defect
    model.card = dataclasses.replace(model.card, thresholds=Thresholds(ng=1.0, review=1.0, anomaly=1.0))
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


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_shipped_classifier_carries_the_shipped_gate(name):
    # An out-of-distribution check on every classifier: the good-only gate, as an OR rule or fused.
    card = ModelCard.load(WEIGHTS / name)
    assert card.gate is not None and (card.thresholds.anomaly is not None) != (card.fusion is not None)
    source = WEIGHTS / "magnetic-tile-good-only"
    gate = ModelCard.load(source)
    # The default bundle runs the gate lighter (one view, the image bank alone, its INT8 graph made
    # from the same float graph): same graph and banks.
    light = {k: v for k, v in card.gate_card.feature_bank.items() if k != "window_bank"}
    assert light == gate.feature_bank and card.gate_card.version.split(".int8-")[0] == gate.version
    for copied, original in GATE_FILES:
        assert (WEIGHTS / name / copied).read_bytes() == (source / original).read_bytes()


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_shipped_classifier_has_a_review_band_set_by_the_rule(name):
    card = ModelCard.load(WEIGHTS / name)
    assert 0.5 <= card.thresholds.review < card.thresholds.ng < 1.0
    assert card.metrics["threshold_rule"]["ng_rule"] == NG_ABOVE_GOOD


def test_default_model_sends_an_unusual_part_to_review():
    # A frame no good part looks like (lens cap, dead lamp, empty fixture): the classifier alone
    # passes it with p(good) 0.99; the gate's OR rule sends it to a person.
    model = load_classifier(WEIGHTS / "magnetic-tile")
    assert model.card.thresholds.anomaly is not None and model.card.fusion is None
    frames = [np.full((200, 200), v, np.uint8) for v in (0, 128, 255)]
    for pred in model.predict(frames, heatmaps=False):
        assert pred.defect_score < model.card.thresholds.review  # not flagged by its defect score
        assert pred.anomaly_score >= model.card.thresholds.anomaly and pred.verdict is Verdict.REVIEW


def _checkerboard(h: int, w: int, cell: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy // cell) + (xx // cell)) % 2 * 255).astype(np.uint8)


def _unusual_parts(image: np.ndarray) -> list[np.ndarray]:
    """A good tile with a foreign patch pasted in its middle, and a foreign texture at its brightness."""
    h, w = image.shape
    k = int(0.3 * min(h, w))
    pasted = image.copy()
    pasted[(h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k] = _checkerboard(k, k, k // 6)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = (np.sin(2 * np.pi * (0.88 * xx + 0.48 * yy) / 12) + 1) / 2  # a 12 px grating
    texture = (image.mean() + image.std() * (2 * stripes - 1)).clip(0, 255).astype(np.uint8)
    return [pasted, texture]


def test_default_model_sends_good_tiles_with_foreign_content_to_review(sample):
    # Unusual parts, not blank frames: no unusual part is OK, and where the defect score alone would
    # pass one, the gate sends it to a person (issue 26 item 2).
    model = load_classifier(WEIGHTS / "magnetic-tile")
    review = model.card.thresholds.review
    by_gate = 0
    for s in sample:
        if s.label != "free":
            continue
        for pred in model.predict(_unusual_parts(read_image(s.path)), heatmaps=False):
            assert pred.verdict is not Verdict.OK
            if pred.defect_score < review:
                assert pred.anomaly_score >= model.card.thresholds.anomaly
                assert pred.verdict is Verdict.REVIEW and pred.heatmap is None
                by_gate += 1
    assert by_gate >= 4  # 7 of the 16 on the shipped bundle (the other 9: its defect score)


def test_default_model_runs_its_gate_on_one_view_and_the_image_bank(sample, monkeypatch):
    # The window search was most of the gate's cost (issue 32): the default bundle's gate skips it,
    # and scores the image distance alone, calibrated as in the two-scale mix.
    model = load_classifier(WEIGHTS / "magnetic-tile")
    gate = model.gate
    assert gate.card.tta_views == ["identity"] and not gate.uses_windows

    def no_windows(*_args, **_kwargs):
        raise AssertionError("the window search ran")

    monkeypatch.setattr(FeatureBank, "distances", no_windows)
    images = [read_image(s.path) for s in sample[:4]]
    scores, _, _ = model.anomaly_scores(images)
    raw = gate.score_batch(*prepare_batch(images, gate.card.input_size))[3]
    assert set(raw) == {"p_anomaly", "image_distance"}
    expected = image_only_score(gate.bank.calibration, raw["p_anomaly"], raw["image_distance"])
    assert np.allclose(scores, expected)


def test_attach_gate_options_make_the_gate_lighter(tmp_path):
    bundle = tmp_path / "mt"
    bundle.mkdir()
    for f in ("model.onnx", "card.json"):
        (bundle / f).write_bytes((WEIGHTS / "magnetic-tile" / f).read_bytes())
    before = (bundle / "card.json").read_bytes()
    gate = str(WEIGHTS / "magnetic-tile-good-only")
    bad = CliRunner().invoke(app, ["attach-gate", str(bundle), gate, "--gate-views", "identity,spin"])
    assert bad.exit_code == 2 and "spin" in bad.output
    assert (bundle / "card.json").read_bytes() == before  # refused before the bundle was touched
    fused = CliRunner().invoke(app, ["attach-gate", str(bundle), gate, "--no-window-bank",
                                     "--fuse-on", str(tmp_path)])
    assert fused.exit_code == 2 and (bundle / "card.json").read_bytes() == before
    result = CliRunner().invoke(app, ["attach-gate", str(bundle), gate, "--gate-views", "identity",
                                      "--no-window-bank"])
    assert result.exit_code == 0, result.output
    card = ModelCard.load(bundle).gate_card
    assert card.tta_views == ["identity"] and card.feature_bank["window_bank"] is False
    plain = CliRunner().invoke(app, ["attach-gate", str(bundle), gate])  # re-attached as shipped
    assert plain.exit_code == 0 and "window_bank" not in ModelCard.load(bundle).gate_card.feature_bank


# The INT8 kernel families the default bundle's INT8 graphs were judged on (Zen 4 with AVX-512
# VNNI, and Zen 3 with AVX2 only): the same graph scores differently under each.
JUDGED_FAMILIES = {"vnni", "avx2"}


def _judged_and_kept(record: dict, metrics: dict) -> dict:
    """Each family's judgment kept the float graph's test figures; the test parts that changed."""
    assert set(record["judged"]) == JUDGED_FAMILIES
    changed = {}
    for family, judgment in record["judged"].items():
        assert judgment["kept_test_figures"] is True
        test = judgment["figures"]["test"]
        for key in ("defect_recall", "false_reject_rate", "macro_f1"):
            assert test["int8"][key] == test["float"][key] == metrics["test"][key]
        assert test["int8"]["n"] == 268
        changed[family] = {c["part"]: (c["float"][0], c["int8"][0]) for c in test["changed"]}
    return changed


def test_default_model_runs_its_int8_graph_which_kept_the_test_figures():
    # Issue 32: the INT8 graph (inspector quantize) runs only because, at the card's thresholds,
    # it kept the float graph's test recall, false-reject rate and macro-F1 on CPUs of each
    # INT8 kernel family it was judged on.
    folder = WEIGHTS / "magnetic-tile"
    card = ModelCard.load(folder)
    assert card.graph == "int8"
    assert card.int8["from_weights_hash"] == card.weights_hash == weights_hash(folder / "model.onnx")
    assert card.int8["weights_hash"] == weights_hash(folder / INT8_ONNX_FILE)
    assert card.int8["command"].startswith("inspector quantize weights/magnetic-tile ")
    changed = _judged_and_kept(card.int8, card.metrics)
    assert changed["vnni"] == {}  # no test part changed verdict or class; on AVX2 two defects
    assert changed["avx2"] == {"break/exp6_num_105927.jpg": ("NG", "REVIEW"),  # went to REVIEW:
                               "free/exp4_num_346361.jpg": ("NG", "REVIEW")}   # still caught
    model = load_classifier(folder)
    if machine.int8_kernel() in JUDGED_FAMILIES:
        assert model.onnx_file == INT8_ONNX_FILE and ".int8-" in model.card.version
    else:  # a CPU of a family never judged runs the float graph
        assert model.onnx_file == "model.onnx" and ".int8-" not in model.card.version


def test_default_models_gate_runs_its_int8_graph_which_kept_the_test_figures():
    # Issue 32: the gate's INT8 graph runs only because, in the bundle (its classifier on the INT8
    # graph), it kept the float gate's test figures.
    folder = WEIGHTS / "magnetic-tile"
    card = ModelCard.load(folder)
    gate = card.gate_card
    assert gate.graph == "int8"
    assert gate.int8["from_weights_hash"] == gate.weights_hash == weights_hash(folder / GATE_ONNX_FILE)
    assert gate.int8["weights_hash"] == weights_hash(folder / GATE_INT8_ONNX_FILE)
    assert _judged_and_kept(gate.int8, card.metrics) == {"vnni": {}, "avx2": {}}
    if machine.int8_kernel() in JUDGED_FAMILIES:
        model = load_classifier(folder)
        assert model.gate.onnx_file == GATE_INT8_ONNX_FILE and model.card.version.count(".int8-") == 2


def test_default_models_int8_graphs_change_on_the_sample_only_what_the_card_says(sample):
    family = machine.int8_kernel()
    if family not in JUDGED_FAMILIES:
        pytest.skip(f"this CPU's INT8 kernel family ({family}) was not judged: the float graph runs")
    images = [read_image(s.path) for s in sample]
    folder = WEIGHTS / "magnetic-tile"
    int8 = load_classifier(folder).predict(images, heatmaps=False)
    plain = load_classifier(folder, graph="float", gate_graph="float").predict(images, heatmaps=False)
    figures = ModelCard.load(folder).int8["judged"][family]["figures"]
    listed = {c["part"] for split in figures.values() for c in split["changed"]}
    for s, a, b in zip(sample, int8, plain, strict=True):
        if f"{s.label}/{s.path.name}" not in listed:  # the card lists every val/test part that changes
            assert (a.verdict, a.label) == (b.verdict, b.label), s.path.name
    moved = [abs(a.defect_score - b.defect_score) for a, b in zip(int8, plain, strict=True)]
    most = max(split["score_moved"]["max"] for split in figures.values())  # vnni 0.057, avx2 0.106
    assert 0 < max(moved) < most + 0.01  # its own scores, moved no further than on val and test
    gate_moved = [abs(a.anomaly_score - b.anomaly_score) for a, b in zip(int8, plain, strict=True)]
    assert 0 < max(gate_moved) < 0.1  # the INT8 gate's own anomaly scores, close to the float gate's


def test_the_gate_reuses_the_classifiers_prepared_images(sample, monkeypatch):
    images = [read_image(s.path) for s in sample[:6]]
    model = load_classifier(WEIGHTS / "magnetic-tile")
    alone, _, _ = model.anomaly_scores(images)  # the gate preparing the images itself
    prepared_by_gate = []
    own = model.gate.score_images
    monkeypatch.setattr(model.gate, "score_images", lambda imgs: prepared_by_gate.append(imgs) or own(imgs))
    assert [p.anomaly_score for p in model.predict(images, heatmaps=False)] == list(alone)
    assert prepared_by_gate == []  # same canvas: the classifier's batch served both
