"""InspectRegion: the fixture crop and the trim to a part on a dark belt."""

import numpy as np

from inspector.pipeline.region import InspectRegion


def _belt_with_part() -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(24, 4, (200, 300)), 0, 255).astype(np.uint8)
    frame[60:140, 90:250] = np.clip(rng.normal(120, 15, (80, 160)), 0, 255).astype(np.uint8)
    return frame


def test_whole_frame_is_passed_through_untouched():
    frame = _belt_with_part()
    assert InspectRegion().crop(frame) is frame


def test_roi_crop_in_fractions():
    frame = _belt_with_part()
    crop = InspectRegion(x=0.5, y=0.25, w=0.5, h=0.5).crop(frame)
    assert crop.shape == (100, 150)
    np.testing.assert_array_equal(crop, frame[50:150, 150:300])


def test_trim_finds_the_part_on_a_dark_belt():
    crop = InspectRegion(x=0.1, y=0.1, w=0.8, h=0.8, trim=True).crop(_belt_with_part())
    # the region starts at (20, 30): the part's box (60..140, 90..250) within a few pixels
    assert abs(crop.shape[0] - 80) <= 4 and abs(crop.shape[1] - 160) <= 4


def test_trim_keeps_the_region_when_nothing_stands_out():
    rng = np.random.default_rng(1)
    flat = np.clip(rng.normal(24, 4, (100, 100)), 0, 255).astype(np.uint8)
    crop = InspectRegion(trim=True).crop(flat)
    assert crop.shape[0] >= 90 and crop.shape[1] >= 90  # noise is no part: (nearly) all kept


def test_trim_keeps_a_dark_rim_brighter_than_the_belt():
    """A tile's rim can be darker than Otsu's split: measured against the belt it is still part."""
    rng = np.random.default_rng(2)
    frame = np.clip(rng.normal(4, 1.5, (200, 300)), 0, 255).astype(np.uint8)
    part = rng.normal(120, 10, (100, 150))
    part[:, :20] = rng.normal(16, 3, (100, 20))  # the dark rim, where defects sit too
    frame[50:150, 75:225] = np.clip(part, 0, 255).astype(np.uint8)
    # The fixture's region fits the part's height and is wider than the part, like the demo's.
    crop = InspectRegion(x=0.2, y=0.25, w=0.6, h=0.5, trim=True).crop(frame)
    assert crop.shape == (100, 150)
    np.testing.assert_array_equal(crop, frame[50:150, 75:225])


def test_trim_keeps_a_flat_part_whole_in_a_tall_region():
    """A flat part covers little of each column of a tall region: its columns are still found."""
    rng = np.random.default_rng(3)
    frame = np.clip(rng.normal(4, 1.5, (300, 300)), 0, 255).astype(np.uint8)
    part = rng.normal(90, 10, (30, 200))
    frame[135:165, 50:250] = np.clip(part, 0, 255).astype(np.uint8)
    crop = InspectRegion(x=50 / 300, y=0.1, w=200 / 300, h=0.8, trim=True).crop(frame)
    assert crop.shape == (30, 200)
