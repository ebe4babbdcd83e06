"""Bundle round trip, torch/ONNX parity, heatmaps, and clear errors for broken bundles."""

import json
import shutil

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.card import ModelCard
from inspector.model.loader import load_classifier
from tests.synthetic import plant, tile
from tests.torchless import run_without_torch


@pytest.fixture
def images():
    rng = np.random.default_rng(5)
    out = [tile(rng) for _ in range(3)]
    out.append(plant(tile(rng), "blob", rng)[0])
    out.append(np.repeat(tile(rng)[:, :, None], 3, axis=2))  # a BGR frame works too
    return out


@pytest.fixture
def broken(tmp_path, tiny_bundle):
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, dst)
    return dst


def test_bundle_has_all_parts_and_a_complete_card(tiny_bundle):
    assert {p.name for p in tiny_bundle.iterdir()} >= {"model.pt", "model.onnx", "card.json",
                                                       "report.json", "confusion.png",
                                                       "score_histogram.png"}
    card = ModelCard.load(tiny_bundle)
    assert card.classes == ["blob", "free", "scratch"] and card.good_classes == ["free"]
    assert card.defect_classes == ["blob", "scratch"]
    assert 0 < card.thresholds.review <= card.thresholds.ng <= 1
    assert card.data_hash and card.command and card.recipe == "mask-supervised"
    assert "test" in card.metrics and "val" in card.metrics
    assert not list(tiny_bundle.glob("*.data"))  # one self-contained ONNX file


def test_torch_and_onnx_agree(tiny_bundle, images):
    onnx_preds = load_classifier(tiny_bundle, "onnx").predict(images)
    torch_preds = load_classifier(tiny_bundle, "torch").predict(images)
    for a, b in zip(onnx_preds, torch_preds, strict=True):
        diff = max(abs(a.scores[c] - b.scores[c]) for c in a.scores)
        assert diff < 1e-4
        assert a.label == b.label and a.verdict == b.verdict
        assert abs(sum(a.scores.values()) - 1) < 1e-5


def test_heatmap_for_flagged_parts_matches_image_size(tiny_bundle, images):
    for img, pred in zip(images, load_classifier(tiny_bundle).predict(images), strict=True):
        if pred.verdict.value == "OK":
            assert pred.heatmap is None
        else:
            assert pred.heatmap.shape == img.shape[:2]
            assert 0.0 <= pred.heatmap.min() <= pred.heatmap.max() <= 1.0


def test_batch_equals_one_by_one(tiny_bundle, images):
    clf = load_classifier(tiny_bundle, max_batch=2)
    batched = clf.predict(images, heatmaps=False)
    single = [clf.predict([img], heatmaps=False)[0] for img in images]
    for a, b in zip(batched, single, strict=True):
        assert abs(a.defect_score - b.defect_score) < 1e-5


def test_onnx_path_runs_without_torch(tiny_bundle):
    """The lean station install: ONNX Runtime inference and heatmaps with torch unimportable."""
    out = run_without_torch(f"""
        import numpy as np
        from inspector.model.loader import load_classifier
        clf = load_classifier({str(tiny_bundle)!r}, "onnx")
        img = np.zeros((60, 80), np.uint8); img[20:40, 30:50] = 255
        pred = clf.predict([img])[0]
        clf.card.thresholds  # the card loads without torch too
        assert "torch" not in sys.modules
        print("OK", pred.verdict)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK")


def test_missing_folder_and_files(tmp_path, broken):
    with pytest.raises(ModelError, match="does not exist"):
        load_classifier(tmp_path / "nope")
    (broken / "model.onnx").unlink()
    with pytest.raises(ModelError, match=r"model\.onnx is missing"):
        load_classifier(broken, "onnx")
    (broken / "card.json").unlink()
    with pytest.raises(ModelError, match=r"card\.json is missing"):
        load_classifier(broken, "torch")


def test_corrupt_files(broken):
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_classifier(broken, "onnx")
    (broken / "model.pt").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_classifier(broken, "torch")
    (broken / "card.json").write_text("{ not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_classifier(broken)


def test_card_that_does_not_match_the_weights(broken):
    card = json.loads((broken / "card.json").read_text())
    card["classes"] = [*card["classes"], "extra"]
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"card\.json says"):
        load_classifier(broken, "onnx")
    with pytest.raises(ModelError, match="does not match"):
        load_classifier(broken, "torch")


def test_graph_from_another_run_is_refused_and_versions_tell_runs_apart(broken, tmp_path,
                                                                          synthetic_dataset):
    from tests.conftest import TINY_ARGS
    from training.train import get_args_parser, main

    other = tmp_path / "other"  # the same data and split, retrained another way: another model
    main(get_args_parser().parse_args([str(synthetic_dataset), "--out", str(other), *TINY_ARGS,
                                       "--set", "lr=0.002"]))
    mine, theirs = ModelCard.load(broken), ModelCard.load(other)
    assert mine.data_hash == theirs.data_hash and mine.version != theirs.version
    assert mine.version == f"{mine.name}@{mine.data_hash[:8]}.{mine.weights_hash[:8]}"
    shutil.copy(other / "model.onnx", broken / "model.onnx")  # same shapes, other weights
    with pytest.raises(ModelError, match="files of two runs are mixed"):
        load_classifier(broken, "onnx")


def test_card_with_bad_fields(broken):
    card = json.loads((broken / "card.json").read_text())
    card["good_classes"] = ["unknown"]
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="good_classes"):
        load_classifier(broken)
    del card["thresholds"]
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="malformed"):
        load_classifier(broken)


def test_unknown_backend(tiny_bundle):
    with pytest.raises(ModelError, match="unknown backend"):
        load_classifier(tiny_bundle, "tensorrt")
