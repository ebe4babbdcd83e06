"""Refit: one training on every train+val image, threshold and kept epoch from a finished crossval."""

import json
import shutil
import statistics

import pytest

pytest.importorskip("torch")

from inspector.datasets import scan_dataset
from inspector.errors import ConfigError
from inspector.model.loader import load_classifier
from tests.conftest import TINY_ARGS
from tests.synthetic import make_dataset
from training import crossval, train
from training.recipe import resolve_settings
from training.refit import _kept_epoch, check_same_recipe


@pytest.fixture(scope="module")
def cross_validated(synthetic_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "cv"
    crossval.main(crossval.get_args_parser().parse_args(
        [str(synthetic_dataset), "--out", str(out), "--folds", "2", *TINY_ARGS]))
    return out


def _refit(dataset, out, cv_dir, *extra):
    args = train.get_args_parser().parse_args(
        [str(dataset), "--out", str(out), "--refit-from", str(cv_dir), *TINY_ARGS, *extra])
    return train.main(args)


def test_a_refit_trains_on_train_and_val_with_the_folds_threshold_and_epoch(
        synthetic_dataset, cross_validated, tmp_path):
    result = json.loads((cross_validated / "crossval.json").read_text())
    report = _refit(synthetic_dataset, tmp_path / "refit", cross_validated, "--seed", "3")
    index = scan_dataset(synthetic_dataset)
    pooled = len([s for s in index.samples if s.split != "test"])
    assert sum(report["counts"]["train"].values()) == pooled  # the val rows joined training
    assert sum(report["counts"]["val"].values()) == 0
    assert sum(report["counts"]["test"].values()) == len(index.split("test")) == report["test"]["n"]
    card = load_classifier(tmp_path / "refit").card
    assert card.thresholds.review == result["pooled"]["review_threshold"]
    assert card.thresholds.ng == max(result["pooled"]["review_threshold"], 0.5)
    fold_epochs = [_kept_epoch(json.loads((cross_validated / f"fold-{k}" / "report.json").read_text())
                               ["history"]) for k in (0, 1)]
    assert report["refit"]["fold_epochs"] == fold_epochs
    assert report["refit"]["keep_epoch"] == statistics.median_low(fold_epochs)
    full = [h for h in report["history"] if h["phase"] == "full"]
    assert [h["epoch"] for h in full] == list(range(report["refit"]["keep_epoch"] + 1))
    assert card.metrics["crossval"]["n"] == pooled and card.metrics["val"] is None
    assert card.metrics["test"]["n"] == len(index.split("test"))


def test_the_kept_epoch_is_the_last_with_the_best_criterion():
    history = [{"phase": "crops", "epoch": 0},
               *({"phase": "full", "epoch": e, "select": s} for e, s in enumerate([1.0, 1.5, 1.2, 1.5, 0.9]))]
    assert _kept_epoch(history) == 3


def test_a_refit_of_another_recipe_is_refused(synthetic_dataset, cross_validated, tmp_path):
    with pytest.raises(ConfigError, match=r"--lr 0.001 \(crossval: 0.003\)"):
        _refit(synthetic_dataset, tmp_path / "a", cross_validated, "--set", "lr=0.001")
    assert not (tmp_path / "a").exists()


def test_a_refit_on_other_images_is_refused(cross_validated, tmp_path):
    other = make_dataset(tmp_path / "other", per_class=14, seed=9)
    with pytest.raises(ConfigError, match=r"not the \d+ images the cross-validation scored"):
        _refit(other, tmp_path / "b", cross_validated)


def test_an_unfinished_or_missing_crossval_is_refused(synthetic_dataset, cross_validated, tmp_path):
    with pytest.raises(ConfigError, match=r"no crossval\.json"):
        _refit(synthetic_dataset, tmp_path / "c", tmp_path / "nowhere")
    partial = tmp_path / "partial"
    shutil.copytree(cross_validated, partial)
    result = json.loads((partial / "crossval.json").read_text())
    (partial / "crossval.json").write_text(json.dumps({**result, "complete": False}))
    with pytest.raises(ConfigError, match="did not finish all 2 folds"):
        _refit(synthetic_dataset, tmp_path / "d", partial)


def test_a_refit_takes_no_gate(synthetic_dataset, cross_validated, gate, tmp_path):
    with pytest.raises(ConfigError, match="takes no --good-only or --gate"):
        _refit(synthetic_dataset, tmp_path / "e", cross_validated, "--gate", str(gate))
    with pytest.raises(ConfigError, match="belongs to inspector train"):
        crossval.main(crossval.get_args_parser().parse_args(
            [str(synthetic_dataset), "--out", str(tmp_path / "f"), "--refit-from", str(cross_validated),
             *TINY_ARGS]))


def test_an_option_newer_than_the_crossval_counts_as_its_default():
    # A crossval run before a setting existed trained at its default: its args lack the key.
    args = train.get_args_parser().parse_args(["ds", "--out", "o"])
    resolve_settings(args, None)
    fold = {k: str(v) if hasattr(v, "as_posix") else v for k, v in vars(args).items() if k != "pos_weight"}
    check_same_recipe(args, [fold])
    args.pos_weight = 5.0
    with pytest.raises(ConfigError, match=r"--pos-weight 5.0 \(crossval: 10.0\)"):
        check_same_recipe(args, [fold])


def test_a_crossval_with_a_removed_option_at_its_default_is_the_same_recipe():
    # EMA, focal loss, pseudo-masks, crop good share and ensembles are gone; off, they changed nothing.
    args = train.get_args_parser().parse_args(["ds", "--out", "o"])
    resolve_settings(args, None)
    fold = {k: str(v) if hasattr(v, "as_posix") else v for k, v in vars(args).items()}
    check_same_recipe(args, [{**fold, "ema_decay": 0.0, "ensemble": 1, "pseudo_masks": False}])
    with pytest.raises(ConfigError, match=r"--ema-decay None \(crossval: 0.998\)"):
        check_same_recipe(args, [{**fold, "ema_decay": 0.998}])


@pytest.mark.parametrize("recorded", ["absent", None])
@pytest.mark.parametrize(("option", "resolved", "before"), [
    ("label_smoothing", 0.1, 0.0),  # labels-only smooths by default; before the option: plain targets
    ("good_share", 0.6, 0.0),  # and draws more good images; before: sqrt(count)
    ("frr_confidence", 0.95, 0.0),  # and reads its budget at 95 %; before: the expected rate
    ("crop_margin", 32, 0),  # and crops past the tile edge; before: inside the image
    ("precision", "bf16", "fp32"),  # and float32 forward passes
])
def test_a_crossval_from_before_an_option_ran_as_the_old_behaviour(option, resolved, before, recorded):
    # Absent (before the option) or None (the option unset, before its labels-only default).
    args = train.get_args_parser().parse_args(["ds", "--out", "o", "--set", "max_false_reject=0.01"])
    fold = {k: str(v) if hasattr(v, "as_posix") else v for k, v in vars(args).items() if k != option}
    if recorded is None:
        fold[option] = None
    setattr(args, option, resolved)  # what prepare_run resolves for labels-only
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=rf"{flag} {resolved!r} \(crossval: {before!r}\)"):
        check_same_recipe(args, [fold])
    setattr(args, option, before)
    check_same_recipe(args, [fold])


@pytest.mark.parametrize(("recorded", "canvas"), [(None, (64, 64)), ([64, 128], (64, 128))])
def test_a_refit_trains_on_the_canvas_its_folds_trained_on(synthetic_dataset, cross_validated, tmp_path,
                                                            recorded, canvas):
    """Not one chosen again from the pooled images, whose median may round to another canvas; a
    cross-validation from before the canvas setting (no input_shape in its args) ran square."""
    cv_dir = tmp_path / "cv"
    shutil.copytree(cross_validated, cv_dir)
    for report_path in cv_dir.glob("fold-*/report.json"):
        report = json.loads(report_path.read_text())
        report["args"].pop("canvas", None)
        report["args"].pop("input_shape", None)
        if recorded is not None:
            report["args"]["input_shape"] = recorded
            report["args"]["tta"] = "identity,hflip,vflip"  # what a shaped canvas's folds kept
        report_path.write_text(json.dumps(report))
    _refit(synthetic_dataset, tmp_path / "refit", cv_dir)
    card = load_classifier(tmp_path / "refit").card
    assert card.canvas == canvas
