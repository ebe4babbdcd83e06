"""Cross-validation: stratified folds, every train/val image scored once out of fold, test never read."""

import csv
import json
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.datasets import Sample, scan_dataset
from inspector.errors import ConfigError, DatasetError
from inspector.model.loader import load_classifier
from inspector.model.thresholds import ThresholdRule, choose
from tests.conftest import TINY_ARGS
from training.crossval import SUSPECTS_FILE, assign_folds, fold_index, get_args_parser, main
from training.label_audit import DEFECT_PASSED, GOOD_REJECTED


def _samples(counts: dict[str, int]) -> list[Sample]:
    return [Sample(f"{c}/{i}.png", c, "train") for c, n in counts.items() for i in range(n)]


def test_folds_are_stratified_even_and_seeded():
    samples = _samples({"free": 40, "blob": 7, "scratch": 5})
    folds = assign_folds(samples, 4, seed=0)
    sizes = Counter(folds)
    assert set(sizes) == {0, 1, 2, 3} and max(sizes.values()) - min(sizes.values()) <= 1
    for label in ("free", "blob", "scratch"):  # every fold holds every class
        assert {f for s, f in zip(samples, folds, strict=True) if s.label == label} == {0, 1, 2, 3}
    assert assign_folds(samples, 4, seed=0) == folds
    assert assign_folds(samples, 4, seed=1) != folds


def test_a_class_smaller_than_the_folds_is_a_clear_error():
    with pytest.raises(DatasetError, match="class blob has 2 train/val images, fewer than the 3 folds"):
        assign_folds(_samples({"free": 9, "blob": 2}), 3, seed=0)


def test_fold_index_holds_one_fold_out_and_drops_test(synthetic_dataset):
    index = scan_dataset(synthetic_dataset)
    pool = [s for s in index.samples if s.split != "test"]
    folds = assign_folds(pool, 3, seed=0)
    held = fold_index(index, folds, 1)
    assert len(held.split("val")) == folds.count(1)
    assert len(held.split("train")) == len(pool) - folds.count(1)
    assert held.split("test") == []


def _args(dataset, out, *extra):
    return get_args_parser().parse_args([str(dataset), "--out", str(out), *TINY_ARGS, *extra])


def test_every_train_val_image_is_scored_once_by_a_network_that_did_not_train_on_it(
        synthetic_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic_dataset, data)
    index = scan_dataset(data)
    for s in index.split("test"):  # a test image read anywhere would be skipped and counted
        s.path.write_bytes(b"not an image")
    result = main(_args(data, tmp_path / "cv", "--folds", "2"))
    pool = {s.rel(index.root) for s in index.samples if s.split != "test"}
    scored = [r["image"] for r in result["scored"]]
    assert sorted(scored) == sorted(pool)  # each once; the test rows are never read
    for k in (0, 1):
        report = json.loads((tmp_path / "cv" / f"fold-{k}" / "report.json").read_text())
        held_out = {r["image"] for r in result["scored"] if r["fold"] == k}
        assert report["test"] is None and sum(report["counts"]["val"].values()) == len(held_out)
        assert report["skipped_images"]["count"] == 0
        assert sum(report["counts"]["train"].values()) == len(pool) - len(held_out)
        assert load_classifier(tmp_path / "cv" / f"fold-{k}").card.name == "cv-fold-" + str(k)
    # The pooled threshold is the rule applied to the pooled scores, and the figures follow it.
    rows = result["scored"]
    is_defect = np.array([r["label"] != "free" for r in rows])
    scores = np.array([r["defect_score"] for r in rows])
    assert result["pooled"]["review_threshold"] == choose(is_defect, scores, ThresholdRule()).review
    flagged = scores >= result["pooled"]["review_threshold"]
    assert result["pooled"]["defect_recall"] == flagged[is_defect].mean()
    assert result["pooled"]["n"] == len(pool) == sum(f["n"] for f in result["per_fold"])
    assert result["criterion_min"] <= result["criterion_mean"] <= result["criterion_max"]
    on_disk = json.loads((tmp_path / "cv" / "crossval.json").read_text())
    assert on_disk["pooled"] == json.loads(json.dumps(result["pooled"]))
    # The label audit lists exactly the held-out predictions that are not the label.
    with (tmp_path / "cv" / SUSPECTS_FILE).open() as f:
        listed = list(csv.DictReader(f))
    assert len(listed) == result["label_suspects"]
    assert {r["image"] for r in listed} == {r["image"] for r in rows if r["predicted"] != r["label"]}
    assert {r["image"] for r in listed if r["reason"] == GOOD_REJECTED} == \
        {r["image"] for r in rows if r["label"] == "free" and r["predicted"] != "free"}
    assert {r["image"] for r in listed if r["reason"] == DEFECT_PASSED} == \
        {r["image"] for r in rows if r["label"] != "free" and r["predicted"] == "free"}
    assert all(set(r["probs"]) == {"blob", "free", "scratch"} for r in rows)


def test_bad_options_are_refused_before_training(synthetic_dataset, tmp_path, gate):
    with pytest.raises(ConfigError, match="at least 2"):
        main(_args(synthetic_dataset, tmp_path / "a", "--folds", "1"))
    with pytest.raises(ConfigError, match="good-only"):
        main(_args(synthetic_dataset, tmp_path / "b", "--good-only"))
    with pytest.raises(ConfigError, match="does not attach a gate"):
        main(_args(synthetic_dataset, tmp_path / "c", "--gate", str(gate)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_crossval_command_prints_one_summary_line(synthetic_dataset, tmp_path):
    out = tmp_path / "cv"
    cmd = [sys.executable, "-m", "inspector.cli", "crossval", str(synthetic_dataset), "--out", str(out),
           "--folds", "2", *TINY_ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    written = json.loads((out / "crossval.json").read_text())
    assert summary["folds"] == 2 and summary["n"] == written["pooled"]["n"]
    assert written["command"].startswith(f"inspector crossval {synthetic_dataset} --out {out}")
    bad = subprocess.run([*cmd[:4], str(tmp_path / "missing"), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
