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
