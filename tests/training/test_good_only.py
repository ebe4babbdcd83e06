"""Good-only anomaly gate: trained on good tiles, it flags planted blobs; attached to a classifier."""

import dataclasses
import json
import shutil

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.domain import Verdict
from inspector.errors import DatasetError, ModelError
from inspector.model.card import ModelCard
from inspector.model.evaluation import evaluate
from inspector.model.gate import attach_gate
from inspector.model.loader import load_classifier
from tests.conftest import TINY_ARGS
from tests.synthetic import make_dataset, plant, tile
from tests.torchless import run_without_torch
from tests.training.conftest import GATE_ARGS
from training.train import get_args_parser, main


def test_gate_flags_a_planted_blob_and_passes_clean_tiles(gate):
    clf = load_classifier(gate)
    rng = np.random.default_rng(123)
    clean = clf.predict([tile(rng) for _ in range(10)])
    blobs = clf.predict([plant(tile(rng), "blob", rng)[0] for _ in range(10)])
    assert all(p.verdict is Verdict.REVIEW for p in blobs)  # a gate never says NG
    assert sum(p.verdict is Verdict.OK for p in clean) >= 7
    assert min(p.anomaly_score for p in blobs) > max(p.anomaly_score for p in clean)
    assert all(p.heatmap.shape == (72, 96) for p in blobs)


def test_gate_card_and_report(gate):
    card = ModelCard.load(gate)
    assert card.recipe == "good-only" and card.classes == ["free", "anomaly"]
    assert card.good_classes == ["free"]
    assert card.thresholds.anomaly == card.thresholds.review and card.thresholds.ng == 1.0
    report = json.loads((gate / "report.json").read_text())
    assert report["recipe"] == "good-only" and report["val"]["false_reject_rate"] <= 0.05 + 1e-9
    assert report["args"]["synth_mix"] == "v1"  # the gate keeps the mix it was chosen with
    assert report["args"]["label_smoothing"] == 0.0


def test_gate_evaluates_on_a_labelled_dataset(tmp_path, gate, tiny_bundle):
    from inspector.datasets import scan_dataset

    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    samples = scan_dataset(data).samples
    result = evaluate(load_classifier(gate), samples)
    reference = evaluate(load_classifier(tiny_bundle), samples)
    assert set(reference) <= set(result)  # the same JSON fields as a classifier's
    assert result["confusion"]["classes"] == ["free", "anomaly"]
    assert result["n_defect"] == 12 and result["auroc"] > 0.9


def test_attached_gate_sends_anomalous_parts_to_review(gated):
    card = ModelCard.load(gated)
    assert card.gate["recipe"] == "good-only" and card.thresholds.anomaly is not None
    assert (gated / "anomaly.onnx").is_file()
    rng = np.random.default_rng(9)
    images = [tile(rng) for _ in range(4)]
    preds = load_classifier(gated).predict(images)
    assert all(p.anomaly_score is not None for p in preds)
    # With the gate at 0 every part is anomalous: none may stay OK, whatever the classifier says.
    raw = json.loads((gated / "card.json").read_text())
    raw["thresholds"]["anomaly"] = 0.0
    (gated / "card.json").write_text(json.dumps(raw))
    for img, pred in zip(images, load_classifier(gated).predict(images), strict=True):
        assert pred.verdict is not Verdict.OK and pred.heatmap.shape == img.shape


def test_gate_figures_in_the_evaluation(tmp_path, gated):
    from inspector.datasets import scan_dataset

    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    result = evaluate(load_classifier(gated), scan_dataset(data).samples)
    assert {"classifier_only", "gate_only"} <= set(result)
    assert result["defect_recall"] >= result["classifier_only"]["defect_recall"]


def test_gate_runs_without_torch(gate, gated, fused):
    out = run_without_torch(f"""
        import numpy as np
        from inspector.model.loader import load_classifier
        img = np.full((60, 80), 120, np.uint8); img[20:35, 30:45] = 20
        for folder in ({str(gate)!r}, {str(gated)!r}, {str(fused)!r}):
            pred = load_classifier(folder, "onnx").predict([img])[0]
            assert pred.anomaly_score is not None and 0.0 <= pred.defect_score <= 1.0
        assert "torch" not in sys.modules
        print("OK")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK")


def test_attach_refuses_a_classifier_as_gate(tmp_path, tiny_bundle, gate):
    dst = tmp_path / "c"
    shutil.copytree(tiny_bundle, dst)
    with pytest.raises(ModelError, match="not a good-only gate"):
        attach_gate(dst, tiny_bundle)
    with pytest.raises(ModelError, match="itself a good-only gate"):
        attach_gate(gate, gate)


def test_gate_card_without_threshold_is_refused(gated):
    card = ModelCard.load(gated)
    with pytest.raises(ModelError, match=r"no thresholds\.anomaly"):
        dataclasses.replace(card, thresholds=dataclasses.replace(card.thresholds, anomaly=None)
                            ).validate()


def test_good_only_dataset_without_images(tmp_path):
    (tmp_path / "d" / "free").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images: free"):
        main(get_args_parser().parse_args([str(tmp_path / "d"), "--out", str(tmp_path / "b"),
                                           "--good-only", *TINY_ARGS]))
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        main(get_args_parser().parse_args([str(tmp_path / "e"), "--out", str(tmp_path / "b"),
                                           "--good-only", *TINY_ARGS]))


def test_defect_class_without_images(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    (data / "images" / "dent").mkdir()
    for extra in ([], ["--good-only"]):
        with pytest.raises(DatasetError, match="no images: dent"):
            main(get_args_parser().parse_args([str(data), "--out", str(tmp_path / "b"),
                                               *TINY_ARGS, *extra]))


def test_attach_gate_command(tmp_path, tiny_bundle, gate):
    import typer
    from typer.testing import CliRunner

    from inspector.commands import model as model_cmds

    app = typer.Typer()
    app.command("attach-gate")(model_cmds.attach_gate)
    app.command("eval")(model_cmds.evaluate)
    dst = tmp_path / "c"
    shutil.copytree(tiny_bundle, dst)
    result = CliRunner().invoke(app, ["attach-gate", str(dst), str(gate)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["thresholds"]["anomaly"] == ModelCard.load(gate).thresholds.anomaly
    bad = CliRunner().invoke(app, ["attach-gate", str(dst), str(tiny_bundle)])
    assert bad.exit_code == 2 and "not a good-only gate" in bad.output


def test_gate_bundle_carries_a_calibrated_feature_bank(gate, gated):
    import onnx

    card = ModelCard.load(gate)
    cal = card.feature_bank["calibration"]
    assert set(cal) == {"p_mean", "p_std", "d_mean", "d_std", "p_weight", "g_mean", "g_std"}
    assert cal["d_std"] > 0 and cal["g_std"] > 0
    assert card.feature_bank["pool"] == 9 and card.feature_bank["image_bank"] is True
    bank = np.load(gate / "bank.npy")
    assert bank.dtype == np.float16 and bank.shape[1] == 16  # stride-4 block (8) + encoder (8)
    n_train = json.loads((gate / "report.json").read_text())["counts"]["train"]["free"]
    with np.load(gate / "image_bank.npz") as images:  # each train tile: (mean, spread) of 16
        assert images["descriptors"].shape == (n_train, 32)
    outputs = [o.name for o in onnx.load(str(gate / "model.onnx")).graph.output]
    assert outputs == ["logits", "defect_map", "features"]
    assert np.array_equal(np.load(gated / "anomaly_bank.npy"), bank)
    assert (gated / "anomaly_image_bank.npz").read_bytes() == (gate / "image_bank.npz").read_bytes()


def test_gate_scores_agree_between_torch_and_onnx(gate):
    rng = np.random.default_rng(4)
    images = [tile(rng) for _ in range(3)] + [plant(tile(rng), "blob", rng)[0]]
    onnx_preds = load_classifier(gate, "onnx").predict(images)
    torch_preds = load_classifier(gate, "torch").predict(images)
    for a, b in zip(onnx_preds, torch_preds, strict=True):
        assert abs(a.anomaly_score - b.anomaly_score) < 1e-4


def test_gate_without_a_bank_scores_p_anomaly_alone(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=12, masks=False, classes=("free",))
    out = tmp_path / "gate"
    args = [str(root), "--out", str(out), "--good-only", "--set", "bank_size=0", *GATE_ARGS]
    main(get_args_parser().parse_args([*args[:-2], "--crop-epochs", "2", "--epochs", "1", *args[-2:]]))
    assert ModelCard.load(out).feature_bank is None and not (out / "bank.npy").exists()
    pred = load_classifier(out).predict([tile(np.random.default_rng(0))])[0]
    assert pred.anomaly_score == pytest.approx(1.0 - pred.scores["free"])


def test_attaching_a_gate_without_an_image_bank_removes_the_old_one(tmp_path, gate, gated):
    plain = tmp_path / "plain-gate"
    shutil.copytree(gate, plain)
    card = ModelCard.load(plain)
    cal = {**card.feature_bank["calibration"], "g_mean": None, "g_std": None}
    dataclasses.replace(card, feature_bank={**card.feature_bank, "image_bank": False,
                                            "calibration": cal}).save(plain)
    (plain / "image_bank.npz").unlink()
    assert (gated / "anomaly_image_bank.npz").is_file()
    attach_gate(gated, plain)
    assert not (gated / "anomaly_image_bank.npz").exists() and (gated / "anomaly_bank.npy").is_file()
    assert load_classifier(gated).predict([tile(np.random.default_rng(0))])[0].anomaly_score is not None


@pytest.mark.parametrize("name", ["bank.npy", "image_bank.npz"])
def test_gate_with_a_bank_missing_is_refused(tmp_path, gate, tiny_bundle, name):
    dst = tmp_path / "g"
    shutil.copytree(gate, dst)
    (dst / name).unlink()
    with pytest.raises(ModelError, match=rf"{name.replace('.', '[.]')} is missing"):
        load_classifier(dst)
    classifier = tmp_path / "classifier"
    shutil.copytree(tiny_bundle, classifier)
    with pytest.raises(ModelError, match="is missing"):
        attach_gate(classifier, dst)


def test_gate_evaluation_reports_each_score_alone(tmp_path, gate):
    from inspector.datasets import scan_dataset

    data = make_dataset(tmp_path / "d", per_class=6, masks=False)
    result = evaluate(load_classifier(gate), scan_dataset(data).samples)
    parts = result["score_components_auroc"]
    assert set(parts) == {"p_anomaly", "feature_distance", "image_distance"}
    assert all(0.0 <= v <= 1.0 for v in parts.values())
    # The gate knows only free vs anomaly; the breakdown uses the dataset's own defect classes.
    by_class = result["auroc_by_defect_class"]
    assert set(by_class) == {p.name for p in (data / "images").iterdir()} - {"free"}
    assert by_class["blob"] > 0.9  # the planted blobs the gate was shown to flag above


def test_tune_thresholds_resets_a_gate_on_good_val_images(tmp_path, gate):
    from typer.testing import CliRunner

    from inspector.cli import app
    from inspector.datasets import scan_dataset

    g = tmp_path / "g"
    shutil.copytree(gate, g)
    # A line's recent good parts, a little brighter than the ones the gate was trained on.
    data = make_dataset(tmp_path / "d", per_class=40, seed=21, masks=False, classes=("free", "blob"))
    for png in (data / "images" / "free").glob("*.png"):
        img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(png), cv2.add(img, 25))
    before = ModelCard.load(g).thresholds.anomaly
    result = CliRunner().invoke(app, ["tune-thresholds", str(g), str(data)])
    assert result.exit_code == 0, result.output
    card = ModelCard.load(g)
    assert card.thresholds.anomaly == card.thresholds.review and card.thresholds.ng == 1.0
    assert card.thresholds.anomaly != before and json.loads(result.stdout)["rule"]["max_false_reject"] == 0.05
    good = [s for s in scan_dataset(data).split("val") if s.label == "free"]
    flagged = [p.verdict is not Verdict.OK for p in load_classifier(g).predict(
        [cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE) for s in good])]
    assert sum(flagged) <= int(0.05 * len(good))  # the good val parts: at most 5% flagged
    assert card.metrics["val"]["n"] == len(scan_dataset(data).split("val"))
    strict = CliRunner().invoke(app, ["tune-thresholds", str(g), str(data), "--max-false-reject", "0"])
    assert strict.exit_code == 0 and ModelCard.load(g).thresholds.anomaly >= card.thresholds.anomaly
