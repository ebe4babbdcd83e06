"""Dataset scanning: layouts, split.csv, stratified splits and clear errors for bad folders."""

import shutil

import pytest

from inspector.datasets import content_hash, pick_good_classes, scan_dataset
from inspector.errors import DatasetError
from tests.synthetic import make_dataset


def test_images_layout_with_masks(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=10)
    index = scan_dataset(root)
    assert index.classes == ["blob", "free", "scratch"] and index.has_masks
    assert all(s.mask is not None for s in index.samples)
    for split in ("train", "val", "test"):
        assert all(n > 0 for n in index.counts(split).values())
    assert scan_dataset(root).samples == index.samples  # seeded: the same split twice


def test_flat_layout_without_masks(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=6, masks=False)
    flat = tmp_path / "flat"
    shutil.move(str(root / "images"), flat)
    index = scan_dataset(flat)
    assert index.classes == ["blob", "free", "scratch"] and not index.has_masks


def test_split_csv_is_used(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=3)
    rows = ["image,label,split"] + [
        f"images/{c}/{c}_{i:03d}.png,{c},{'train' if i < 2 else 'test'}"
        for c in ("blob", "free", "scratch") for i in range(3)]
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    index = scan_dataset(root)
    assert len(index.split("train")) == 6 and len(index.split("test")) == 3


@pytest.mark.parametrize(("row", "message"), [
    ("images/blob/blob_000.png,blob,holdout", "unknown split 'holdout'"),
    ("images/blob/blob_000.png,dent,train", "unknown class 'dent'"),
    ("images/blob/missing.png,blob,train", "does not exist"),
])
def test_bad_split_rows(tmp_path, row, message):
    root = make_dataset(tmp_path / "d", per_class=2)
    (root / "split.csv").write_text("image,label,split\n" + row + "\n")
    with pytest.raises(DatasetError, match=message):
        scan_dataset(root)


def test_empty_class_single_class_and_missing_folder(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    (root / "images" / "dent").mkdir()
    with pytest.raises(DatasetError, match="no images: dent"):
        scan_dataset(root)
    one = make_dataset(tmp_path / "one", per_class=2, classes=("free",))
    with pytest.raises(DatasetError, match="only one class"):
        scan_dataset(one)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nowhere")


def test_good_class_detection():
    assert pick_good_classes(["crack", "free"]) == ["free"]
    assert pick_good_classes(["a", "b"], ["a"]) == ["a"]
    with pytest.raises(DatasetError, match="no good class"):
        pick_good_classes(["crack", "dent"])
    with pytest.raises(DatasetError, match="not among"):
        pick_good_classes(["crack", "free"], ["ok"])


def test_content_hash_changes_with_bytes(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=4)
    before = content_hash(scan_dataset(root))
    target = next(s for s in scan_dataset(root).samples if s.split == "train")
    target.path.write_bytes(target.path.read_bytes() + b"\x00")
    assert content_hash(scan_dataset(root)) != before
