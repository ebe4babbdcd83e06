"""ImageArchive: what is kept, where, retention by size and age, and a full disk."""

from __future__ import annotations

import errno
import os
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.archive import ImageArchive, SavedImages
from inspector.storage.store import InspectionStore

from .conftest import T0, MakeInspection


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(96, 128), dtype=np.uint8)


@pytest.fixture
def heatmap() -> np.ndarray:
    heat = np.zeros((32, 32), dtype=np.float32)
    heat[8:16, 8:16] = 1.0
    return heat


def _disk_full(path: Path, data: bytes) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.mark.parametrize("verdict", [Verdict.NG, Verdict.REVIEW])
def test_ng_and_review_always_saved_with_overlay(
    tmp_path: Path, image: np.ndarray, heatmap: np.ndarray, verdict: Verdict
) -> None:
    archive = ImageArchive(tmp_path, ok_sample_rate=0.0)
    saved = archive.save("p-1", image, verdict, heatmap=heatmap, when=T0)
    assert saved.image_path == f"2024-03-01/{verdict.value}/p-1.jpg"
    assert saved.heatmap_path == f"2024-03-01/{verdict.value}/p-1_heatmap.jpg"
    jpeg = cv2.imread(str(tmp_path / saved.image_path), cv2.IMREAD_UNCHANGED)
    overlay = cv2.imread(str(tmp_path / saved.heatmap_path), cv2.IMREAD_UNCHANGED)
    assert jpeg.shape == image.shape
    assert overlay.shape == (*image.shape, 3)  # resized to the frame, in colour
    hot, cold = overlay[36, 48].astype(int), overlay[80, 110].astype(int)
    assert hot[2] - hot[0] > cold[2] - cold[0]  # JET: the hot square is redder
    assert archive.total_bytes == sum(
        (tmp_path / p).stat().st_size for p in (saved.image_path, saved.heatmap_path)
    )


def test_ok_sampling_rate_is_near_configured_and_reproducible(
    tmp_path: Path, image: np.ndarray
) -> None:
    archive = ImageArchive(tmp_path, ok_sample_rate=0.1)
    ids = [f"SN{i:06d}" for i in range(1000)]
    kept = [i for i in ids if archive.should_keep(i, Verdict.OK)]
    assert 70 <= len(kept) <= 130  # binomial(1000, 0.1): +-3 standard deviations
    again = ImageArchive(tmp_path, ok_sample_rate=0.1)
    assert kept == [i for i in ids if again.should_keep(i, "OK")]
    saved = archive.save(kept[0], image, Verdict.OK, when=T0)
    assert saved.image_path == f"2024-03-01/OK/{kept[0]}.jpg"
    dropped = next(i for i in ids if i not in kept)
    assert archive.save(dropped, image, Verdict.OK, when=T0) == SavedImages(None, None)
    assert ImageArchive(tmp_path, ok_sample_rate=0.0).should_keep("x", "OK") is False
    assert ImageArchive(tmp_path, ok_sample_rate=1.0).should_keep("x", "OK") is True


def test_unsafe_part_ids_stay_inside_root(tmp_path: Path, image: np.ndarray) -> None:
    archive = ImageArchive(tmp_path / "root")
    a = archive.save("../../etc/x", image, Verdict.NG, when=T0)
    b = archive.save("..__etc_x", image, Verdict.NG, when=T0)
    assert a.image_path is not None and b.image_path is not None and a != b
    for saved in (a, b):
        path = (tmp_path / "root" / saved.image_path).resolve()
        assert path.is_relative_to((tmp_path / "root").resolve()) and path.exists()


def test_a_part_named_like_anothers_heatmap_keeps_both_files(tmp_path: Path, image: np.ndarray,
                                                             heatmap: np.ndarray) -> None:
    archive = ImageArchive(tmp_path)
    a = archive.save("A", image, Verdict.NG, heatmap=heatmap, when=T0)
    b = archive.save("A_heatmap", image, Verdict.NG, when=T0)
    paths = {a.image_path, a.heatmap_path, b.image_path}
    assert len(paths) == 3 and all((tmp_path / p).exists() for p in paths)


def test_bad_image_is_a_clear_error(tmp_path: Path) -> None:
    archive = ImageArchive(tmp_path)
    with pytest.raises(StoreError, match="uint8"):
        archive.save("p", np.zeros((4, 4), dtype=np.float32), Verdict.NG, when=T0)
    with pytest.raises(StoreError, match="timezone-aware"):
        archive.save("p", np.zeros((4, 4), dtype=np.uint8), Verdict.NG, when=datetime(2024, 1, 1))


def _fill(archive: ImageArchive, image: np.ndarray, n: int) -> list[Path]:
    """n NG images over n days, file times one hour apart, oldest first."""
    paths = []
    for i in range(n):
        when = T0 + timedelta(days=i)
        saved = archive.save(f"p{i:02d}", image, Verdict.NG, when=when)
        path = archive.root / str(saved.image_path)
        os.utime(path, (when.timestamp(), when.timestamp()))
        paths.append(path)
    return paths


def test_retention_by_size_deletes_oldest_first_and_keeps_rows(
    tmp_path: Path,
    image: np.ndarray,
    sqlite_store: InspectionStore,
    make_inspection: MakeInspection,
) -> None:
    archive = ImageArchive(tmp_path / "images")
    paths = _fill(archive, image, 10)
    sqlite_store.write([make_inspection(i, image_path=str(p)) for i, p in enumerate(paths)])
    one = paths[0].stat().st_size
    archive.max_bytes = 5 * one + one // 2
    deleted = archive.enforce_retention(now=T0 + timedelta(days=10))
    assert deleted >= 5
    assert [p.exists() for p in paths] == [False] * deleted + [True] * (10 - deleted)
    assert archive.total_bytes == sum(p.stat().st_size for p in paths if p.exists())
    assert archive.total_bytes <= archive.max_bytes
    assert not (tmp_path / "images" / "2024-03-01").exists()  # emptied day folders go too
    assert sum(sqlite_store.counts().values()) == 10  # rows are never deleted


def test_retention_by_age(tmp_path: Path, image: np.ndarray) -> None:
    archive = ImageArchive(tmp_path, max_age_days=3)
    paths = _fill(archive, image, 10)
    assert archive.enforce_retention(now=T0 + timedelta(days=10)) == 7  # days 0..6 are > 3 d old
    assert [p.exists() for p in paths] == [False] * 7 + [True] * 3
    assert archive.enforce_retention(now=T0 + timedelta(days=10)) == 0


def test_save_over_quota_triggers_retention(tmp_path: Path, image: np.ndarray) -> None:
    archive = ImageArchive(tmp_path)
    paths = _fill(archive, image, 4)
    archive.max_bytes = 4 * paths[0].stat().st_size
    archive.save("new", image, Verdict.NG, when=T0 + timedelta(days=9))
    assert not paths[0].exists() and paths[-1].exists()
    assert archive.total_bytes <= archive.max_bytes


def test_total_bytes_scanned_at_start(tmp_path: Path, image: np.ndarray) -> None:
    first = ImageArchive(tmp_path)
    _fill(first, image, 3)
    assert ImageArchive(tmp_path).total_bytes == first.total_bytes > 0


def test_disk_full_keeps_rows_flowing(
    tmp_path: Path,
    image: np.ndarray,
    heatmap: np.ndarray,
    sqlite_store: InspectionStore,
    make_inspection: MakeInspection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = ImageArchive(tmp_path / "images")
    monkeypatch.setattr(archive, "_write_bytes", _disk_full)
    for i in range(3):
        saved = archive.save(f"part-{i:05d}", image, Verdict.NG, heatmap=heatmap, when=T0)
        assert saved == SavedImages(None, None)
        sqlite_store.write([make_inspection(i, verdict=Verdict.NG, image_path=saved.image_path)])
    assert archive.write_failures == 3
    assert archive.disk_problem is not None and "No space left" in archive.disk_problem
    assert sqlite_store.counts()["NG"] == 3
    assert archive.total_bytes == 0

    monkeypatch.undo()  # space freed: the next save works and the problem clears
    assert archive.save("part-00009", image, Verdict.NG, when=T0).image_path is not None
    assert archive.disk_problem is None and archive.write_failures == 3


def test_unwritable_root_is_reported_not_raised(tmp_path: Path, image: np.ndarray) -> None:
    blocker = tmp_path / "images"
    blocker.write_text("a file where the image folder should be")
    archive = ImageArchive(blocker)
    assert archive.save("p", image, Verdict.NG, when=T0) == SavedImages(None, None)
    assert archive.write_failures == 1 and archive.disk_problem


@pytest.mark.parametrize(
    "kwargs",
    [{"ok_sample_rate": 1.5}, {"max_bytes": 0}, {"max_age_days": -1}, {"jpeg_quality": 101}],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(StoreError, match="must be"):
        ImageArchive(tmp_path, **kwargs)
