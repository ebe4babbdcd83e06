"""A gate fused into a classifier's defect score: calibrated on val, thresholds on the fused score."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.datasets import scan_dataset
from inspector.domain import Verdict
from inspector.errors import ConfigError, ModelError
from inspector.model.card import ModelCard
from inspector.model.evaluation import evaluate, score_samples
from inspector.model.gate import attach_gate, fuse_gate
from inspector.model.loader import load_classifier
from inspector.model.preprocess import prepare_batch, read_image
from inspector.model.runtime import heatmap_for
from inspector.model.thresholds import ThresholdRule
from tests.conftest import TINY_ARGS
from tests.synthetic import make_dataset, plant, tile
from training.options import check_args
from training.train import get_args_parser, main


def _images(seed=3):
    rng = np.random.default_rng(seed)
    return [tile(rng) for _ in range(4)] + [plant(tile(rng), "blob", rng)[0] for _ in range(4)]


def test_fusing_records_the_calibration_and_switches_the_or_rule_off(tiny_bundle, gated, fused):
    own = ModelCard.load(tiny_bundle)
    assert ModelCard.load(gated).fusion is None
    card = ModelCard.load(fused)
    assert card.fusion is not None and card.thresholds.anomaly is None
    fusion = card.fused
    assert fusion.weight == 0.5 and fusion.c_std > 0 and fusion.a_std > 0
    assert (fusion.classifier_ng, fusion.classifier_review) == (own.thresholds.ng, own.thresholds.review)
    assert 0 < card.thresholds.review <= card.thresholds.ng <= 1
    gate_hash = ModelCard.load(gated).gate["data_hash"][:8]
    assert card.version == f"{own.version}+fused@{gate_hash}"  # rows tell fused from plain scores
    assert ModelCard.load(gated).version == f"{own.version}+gate@{gate_hash}"
    raw = json.loads(card.to_json())
    raw["thresholds"]["anomaly"] = 0.5
    with pytest.raises(ModelError, match="must be null"):  # fused and OR rule at once
        ModelCard.from_dict(raw)


def test_fused_defect_score_is_the_calibrated_mean_of_both(tiny_bundle, gate, fused):
    images = _images()
    plain = load_classifier(tiny_bundle).predict(images, heatmaps=False)
    alone_gate = load_classifier(gate).predict(images, heatmaps=False)
    preds = load_classifier(fused).predict(images)
    fusion = ModelCard.load(fused).fused
    expected = fusion.combine(np.array([p.defect_score for p in plain]),
                              np.array([g.anomaly_score for g in alone_gate]))
    thresholds = ModelCard.load(fused).thresholds
    for pred, want, gate_pred, image in zip(preds, expected, alone_gate, images, strict=True):
        assert pred.defect_score == pytest.approx(want, abs=1e-5)
        assert pred.anomaly_score == pytest.approx(gate_pred.anomaly_score, abs=1e-5)
        flagged = pred.defect_score >= thresholds.review
        assert (pred.verdict is not Verdict.OK) == flagged  # the fused score alone decides
        assert (pred.heatmap is not None) == flagged
        if flagged:
            assert pred.heatmap.shape == image.shape


def test_an_anomalous_part_below_the_fused_threshold_stays_ok(fused):
    # With the OR rule a gate firing meant REVIEW whatever the classifier said; fused, only the
    # combined score counts: push REVIEW above every fused score and nothing may be flagged.
    raw = json.loads((fused / "card.json").read_text())
    raw["thresholds"].update(review=0.999999, ng=1.0)
    (fused / "card.json").write_text(json.dumps(raw))
    preds = load_classifier(fused).predict(_images())
    gate_threshold = ModelCard.load(fused).gate_card.thresholds.anomaly
    assert any(p.anomaly_score >= gate_threshold for p in preds)  # the OR rule would flag these
    assert all(p.verdict is Verdict.OK for p in preds if p.defect_score < 0.999999)


def test_a_part_the_gate_pushed_over_ng_goes_to_review(fused, fuse_data):
    # Fused, NG also needs the classifier's own word: flag every part, and put the classifier's
    # own NG threshold between its scores; the parts under it must go to REVIEW, not NG.
    samples = scan_dataset(fuse_data).split("test")
    images = [read_image(s.path) for s in samples]
    raw = json.loads((fused / "card.json").read_text())
    own_scores = score_samples(load_classifier(fused), samples).classifier_scores
    ranked = np.sort(own_scores)
    # the cut in the widest gap of the middle half, so no part sits on it and both sides are seen
    quarter = len(ranked) // 4
    gaps = np.diff(ranked)[quarter:len(ranked) - quarter - 1]
    at = quarter + int(np.argmax(gaps))
    assert gaps.max() > 1e-4
    cut = float(ranked[at] + ranked[at + 1]) / 2
    raw["thresholds"].update(review=1e-6, ng=1e-6)
    raw["fusion"].update(classifier_ng=cut, classifier_review=0.0)
    (fused / "card.json").write_text(json.dumps(raw))
    clf = load_classifier(fused)
    preds = clf.predict(images, heatmaps=False)
    assert all(p.defect_score >= 1e-6 for p in preds)  # every part is flagged
    want = [Verdict.NG if o >= cut else Verdict.REVIEW for o in own_scores]
    assert [p.verdict for p in preds] == want
    assert {Verdict.NG, Verdict.REVIEW} <= set(want)  # the cut splits the parts: both outcomes seen
    result = evaluate(clf, samples)  # the evaluation judges as the station does
    assert result["verdicts"] == {v: want.count(Verdict(v)) for v in {w.value for w in want}}
    assert result["false_reject_rate"] == 1.0 and result["defect_recall"] == 1.0  # REVIEW flags too
    truth = [s.label not in ModelCard.load(fused).good_classes for s in samples]
    for name, want_defect in (("good", False), ("defect", True)):
        mine = [w.value for w, d in zip(want, truth, strict=True) if d == want_defect]
        assert result["verdicts_by_truth"][name] == {v: mine.count(v) for v in set(mine)}


def test_evaluation_scores_as_predict_does(fused, fuse_data):
    samples = scan_dataset(fuse_data).split("test")
    clf = load_classifier(fused)
    scored = score_samples(clf, samples)
    preds = clf.predict([read_image(s.path) for s in samples], heatmaps=False)
    assert np.allclose(scored.defect_scores, [p.defect_score for p in preds], atol=1e-6)
    assert np.allclose(scored.anomaly_scores, [p.anomaly_score for p in preds], atol=1e-6)
    assert not np.allclose(scored.classifier_scores, scored.defect_scores)


def test_tune_thresholds_on_a_fused_bundle_keeps_it_fused(fused, fuse_data):
    from inspector.model.retune import retune

    calibration = ModelCard.load(fused).fusion
    result = retune(fused, fuse_data, None, ThresholdRule(target_recall=0.5, max_false_reject=0.0))
    card = ModelCard.load(fused)
    assert card.fusion == calibration and card.thresholds.anomaly is None
    assert result["thresholds"]["review"] == card.thresholds.review


def test_evaluation_reports_the_fused_score_and_each_alone(fused, fuse_data):
    samples = scan_dataset(fuse_data).split("test")
    result = evaluate(load_classifier(fused), samples)
    part = result["fusion"]
    assert part["weight"] == 0.5 and 0.0 <= part["classifier_auroc"] <= 1.0
    assert 0.0 <= part["gate_auroc"] <= 1.0
    assert "classifier_only" not in result and result["thresholds"]["anomaly"] is None


def test_reattaching_restores_the_classifier_thresholds(tiny_bundle, gate, fused):
    own = ModelCard.load(tiny_bundle).thresholds
    card = attach_gate(fused, gate)
    assert card.fusion is None and card.thresholds.anomaly is not None
    assert (card.thresholds.ng, card.thresholds.review) == (own.ng, own.review)


def test_fusing_needs_an_attached_gate_and_good_val_images(tmp_path, tiny_bundle, gated, fuse_data):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_bundle, plain)
    val = scan_dataset(fuse_data).split("val")
    with pytest.raises(ModelError, match="carries no gate to fuse"):
        fuse_gate(plain, val, ThresholdRule())
    defects_only = [s for s in val if s.label != "free"]
    before = (gated / "card.json").read_text()
    with pytest.raises(ModelError, match="at least two good val images"):
        fuse_gate(gated, defects_only, ThresholdRule())
    assert (gated / "card.json").read_text() == before  # nothing half-written
    card = ModelCard.load(gated)
    raw = json.loads(card.to_json())
    raw["gate"] = None
    raw["fusion"] = {"c_mean": 0.0, "c_std": 1.0, "a_mean": 0.0, "a_std": 1.0}
    with pytest.raises(ModelError, match="fuses a gate but carries none"):
        ModelCard.from_dict(raw)


def test_attach_gate_command_fuses_on_a_dataset(tmp_path, tiny_bundle, gate, fuse_data):
    from typer.testing import CliRunner

    from inspector.cli import app

    dst = tmp_path / "c"
    shutil.copytree(tiny_bundle, dst)
    result = CliRunner().invoke(app, ["attach-gate", str(dst), str(gate), "--fuse-on", str(fuse_data)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["fused"] is True and out["thresholds"]["anomaly"] is None
    card = ModelCard.load(dst)
    assert card.fusion is not None and card.thresholds.review == out["thresholds"]["review"]
    # The card's figures are now the fused bundle's, measured on the dataset's val and test rows.
    assert card.metrics["val"] == out["val"] and card.metrics["test"] == out["test"]
    val = evaluate(load_classifier(dst), scan_dataset(fuse_data).split("val"))
    assert out["val"]["auroc"] == val["auroc"]
    before = (dst / "card.json").read_text()
    missing = CliRunner().invoke(app, ["attach-gate", str(dst), str(gate), "--fuse-on",
                                       str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "error:" in missing.output
    assert (dst / "card.json").read_text() == before  # a bad dataset leaves the bundle as it was
    # A val split with no good part fails only after the gate was attached: all of it is undone.
    no_good = make_dataset(tmp_path / "ng", per_class=10, masks=False, classes=("blob", "scratch"))
    plain = tmp_path / "plain"
    shutil.copytree(tiny_bundle, plain)
    files = {p.name: p.read_bytes() for p in plain.iterdir()}
    failed = CliRunner().invoke(app, ["attach-gate", str(plain), str(gate), "--fuse-on", str(no_good)])
    assert failed.exit_code == 2 and "at least two good val images" in failed.output
    assert {p.name: p.read_bytes() for p in plain.iterdir()} == files


def test_training_fuses_the_gate_when_asked(tmp_path, gate, fuse_data):
    out = tmp_path / "b"
    main(get_args_parser().parse_args([str(fuse_data), "--out", str(out), *TINY_ARGS,
                                       "--gate", str(gate), "--set", "fuse_gate=true"]))
    card = ModelCard.load(out)
    assert card.fusion is not None and card.thresholds.anomaly is None
    report = json.loads((out / "report.json").read_text())
    assert "fusion" in report["val"] and report["val"]["thresholds"]["anomaly"] is None


@pytest.mark.parametrize("extra, message", [
    (["--gate", "g", "--no-gate"], "contradict"),
    (["--good-only", "--gate", "g"], "not to a good-only gate"),
    (["--good-only", "--set", "fuse_gate=true"], "no fuse_gate for a good-only gate"),
])
def test_fuse_gate_option_checks(extra, message):
    args = get_args_parser().parse_args(["d", "--out", "o", *extra])
    with pytest.raises(ConfigError, match=message):
        check_args(args)


def _peak_hits(preds, samples):
    import cv2

    hits = []
    for s, pred in zip(samples, preds, strict=True):
        mask = cv2.imread(str(s.mask), cv2.IMREAD_GRAYSCALE)
        y, x = np.unravel_index(int(np.argmax(pred.heatmap)), pred.heatmap.shape)
        hits.append(bool(mask[y, x] > 0))
    return hits


def test_evaluated_heatmap_is_the_one_the_station_shows(tmp_path, gated):
    data = make_dataset(tmp_path / "m", per_class=6, seed=11)  # with masks
    raw = json.loads((gated / "card.json").read_text())
    # The classifier passes every part and the gate flags every one: the station shows the gate's map.
    raw["thresholds"].update(review=1.0, ng=1.0, anomaly=0.0)
    (gated / "card.json").write_text(json.dumps(raw))
    clf = load_classifier(gated)
    defects = [s for s in scan_dataset(data, val_fraction=0.0, test_fraction=0.0).samples
               if s.label != "free"]
    preds = clf.predict([read_image(s.path) for s in defects])
    result = evaluate(clf, defects)
    assert result["heatmap_n"] == len(defects)
    assert result["heatmap_peak_in_mask"] == pytest.approx(np.mean(_peak_hits(preds, defects)))


def test_a_fused_bundle_shows_the_classifier_heatmap(tiny_bundle, fused):
    raw = json.loads((fused / "card.json").read_text())
    raw["thresholds"].update(review=0.0, ng=1.0)  # every part flagged: every heatmap drawn
    (fused / "card.json").write_text(json.dumps(raw))
    images = _images()
    own = load_classifier(tiny_bundle).forward_views
    for image, pred in zip(images, load_classifier(fused).predict(images), strict=True):
        batch, places = prepare_batch([image], ModelCard.load(fused).input_size)
        _, dmaps = own(batch)
        want = heatmap_for(dmaps[0, 0], places[0], ModelCard.load(fused).input_size, image.shape)
        assert np.allclose(pred.heatmap, want, atol=1e-5)


def test_labels_only_trains_its_own_gate_and_fuses_it_by_default(tmp_path):
    from tests.synthetic import make_dataset

    data = make_dataset(tmp_path / "d", per_class=40, seed=3, masks=False)  # 6 good val images
    out = tmp_path / "b"
    # The budget shortens the gate's own schedule (the good-only recipe's 80 + 40 epochs) too.
    report = main(get_args_parser().parse_args([str(data), "--out", str(out), *TINY_ARGS,
                                                "--set", "tta=identity", "--budget-min", "0.5",
                                                "--precision", "fp32"]))
    card = ModelCard.load(out)
    assert card.recipe == "labels-only" and card.fusion is not None and card.gate is not None
    assert ModelCard.load(out / "gate").recipe == "good-only"  # kept: reusable with --gate
    assert report["args"]["gate"] == str(out / "gate")
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())  # the staging is gone
