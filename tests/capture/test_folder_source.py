"""FolderSource: order, manifest serials, corrupt images, end of source."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from inspector.capture import FolderSourceConfig, SourceState, build_source
from inspector.errors import EndOfSource, SourceError


def _read_all(source):
    frames = []
    with pytest.raises(EndOfSource):
        while True:
            frames.append(source.read(0.1))
    return frames


def _folder(tmp_path, make_image, names):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, name in enumerate(names):
        make_image(folder / name, value=10 * i)
    return folder


def test_images_come_in_sorted_order_with_names_and_ids(tmp_path, make_image):
    folder = _folder(tmp_path, make_image, ["b.png", "a.png", "c.jpg", "d.bmp", "e.tif"])
    (folder / "notes.txt").write_text("not an image")
    source = build_source(FolderSourceConfig(type="folder", path=folder))
    assert source.is_live is False
    source.open()
    frames = _read_all(source)
    assert [f.name for f in frames] == ["a.png", "b.png", "c.jpg", "d.bmp", "e.tif"]
    assert [f.frame_id for f in frames] == [1, 2, 3, 4, 5]
    assert {f.source_id for f in frames} == {"folder:imgs"}
    assert all(f.t_utc.tzinfo is not None for f in frames)
    assert [f.t_mono for f in frames] == sorted(f.t_mono for f in frames)
    assert frames[0].image.shape == (30, 40)
    assert source.health().state == SourceState.ENDED
    with pytest.raises(EndOfSource):
        source.read(0.1)


def test_pattern_and_loop(tmp_path, make_image):
    folder = _folder(tmp_path, make_image, ["a.png", "b.png", "c.jpg"])
    source = build_source(
        FolderSourceConfig(type="folder", path=folder, pattern="*.png", loop=True)
    )
    source.open()
    names = [source.read(0.1).name for _ in range(5)]
    assert names == ["a.png", "b.png", "a.png", "b.png", "a.png"]


def test_manifest_gives_serial_hints(tmp_path, make_image):
    folder = _folder(tmp_path, make_image, ["p1.png", "p2.png", "p3.png"])
    (folder / "manifest.csv").write_text("image,serial\np1.png,SN-1\nsub/p2.png,SN-2\n")
    source = build_source(
        FolderSourceConfig(type="folder", path=folder, manifest="manifest.csv")
    )
    source.open()
    frames = _read_all(source)
    assert [(f.name, f.serial_hint) for f in frames] == [
        ("p1.png", "SN-1"), ("p2.png", "SN-2"), ("p3.png", None)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header"),
        ("name,code\np1.png,SN-1\n", "header"),
        ("image,serial\np1.png,\n", "line 2"),
        ("image,serial\np1.png,SN-1\np1.png,SN-9\n", "two serials"),
    ],
)
def test_malformed_manifest_is_a_clear_error(tmp_path, make_image, text, message):
    folder = _folder(tmp_path, make_image, ["p1.png"])
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    source = build_source(FolderSourceConfig(type="folder", path=folder, manifest=manifest))
    with pytest.raises(SourceError, match=message):
        source.open()


def test_missing_manifest_folder_or_images(tmp_path, make_image):
    with pytest.raises(SourceError, match="does not exist"):
        build_source(FolderSourceConfig(type="folder", path=tmp_path / "nope")).open()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        build_source(FolderSourceConfig(type="folder", path=empty)).open()
    folder = _folder(tmp_path, make_image, ["p1.png"])
    with pytest.raises(SourceError, match="manifest"):
        build_source(FolderSourceConfig(type="folder", path=folder, manifest="gone.csv")).open()


def test_unusable_files_are_parts_with_their_problem_counted_and_logged(tmp_path, make_image, caplog):
    folder = _folder(tmp_path, make_image, ["a.png", "c.png"])
    (folder / "b.png").write_bytes(b"\x89PNG this is not really a png")
    (folder / "d.jpg").write_bytes(b"")
    source = build_source(FolderSourceConfig(type="folder", path=folder))
    source.open()
    with caplog.at_level(logging.WARNING, logger="inspector.capture.folder"):
        frames = _read_all(source)
    assert [f.name for f in frames] == ["a.png", "b.png", "c.png", "d.jpg"]
    assert [f.problem is None for f in frames] == [True, False, True, False]
    assert "not a readable image" in frames[1].problem and frames[1].image.size == 0
    assert "empty file" in frames[3].problem
    assert [f.ref for f in frames] == [f"folder:imgs/{n}" for n in ("a.png", "b.png", "c.png", "d.jpg")]
    health = source.health()
    assert health.skipped == 2
    assert "d.jpg" in health.last_error
    assert any("b.png" in r.getMessage() for r in caplog.records)
    assert any("d.jpg" in r.getMessage() for r in caplog.records)


def test_an_oversize_image_is_refused_from_its_header(tmp_path, make_image):
    folder = _folder(tmp_path, make_image, ["a.png"])
    huge = np.zeros((3000, 4000), np.uint8)
    cv2.imwrite(str(folder / "b.png"), huge)  # 12 MP, over a 10 MP limit
    cfg = FolderSourceConfig(type="folder", path=folder, limits={"max_pixels": 10_000_000})
    source = build_source(cfg)
    source.open()
    frames = _read_all(source)
    assert frames[0].problem is None and "4000x3000 pixels" in frames[1].problem


def test_files_done_by_an_earlier_run_are_passed_over(tmp_path, make_image):
    folder = _folder(tmp_path, make_image, ["a.png", "b.png", "c.png"])
    source = build_source(FolderSourceConfig(type="folder", path=folder))
    source.done = frozenset({"folder:imgs/a.png", "folder:imgs/c.png"})
    source.open()
    assert [f.name for f in _read_all(source)] == ["b.png"] and source.resumed == 2


def test_all_images_corrupt_with_loop_ends_instead_of_spinning(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"junk")
    source = build_source(FolderSourceConfig(type="folder", path=folder, loop=True))
    source.open()
    assert source.read(0.1).problem is not None  # the bad file is a part once
    with pytest.raises(EndOfSource):
        source.read(0.1)
