"""SimulatedLine: parts cross the frame, rest centred, and carry decodable DataMatrix serials."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import zxingcpp

from inspector.capture import SimulatedSourceConfig, SourceState, build_source
from inspector.errors import EndOfSource, SourceError


@pytest.fixture
def parts_dir(tmp_path, make_image):
    root = tmp_path / "parts"
    for cls, level in (("good", 200), ("crack", 60)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            make_image(root / cls / f"{cls}_{i}.png", value=level + 5 * i, size=(120, 90))
    return root


def _sim(images, **kw):
    cfg = SimulatedSourceConfig(type="simulated", images=images, realtime=False, **kw)
    source = build_source(cfg)
    source.open()
    return source


def _all_frames(source):
    frames = []
    with pytest.raises(EndOfSource):
        while True:
            frames.append(source.read(0.1))
    return frames


def _decode(image):
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.DataMatrix)
    return [r.text for r in found]


def test_parts_cross_with_codes_and_ground_truth(parts_dir):
    sim = _sim(parts_dir, parts_per_minute=60, fps=20, dwell_s=0.3, max_parts=3, seed=7)
    frames = _all_frames(sim)
    assert len(frames) == 3 * 20  # one second per part at 20 fps
    assert frames[0].image.shape == (480, 640) and frames[0].image.dtype == np.uint8
    parts = sim.parts
    assert [p.serial for p in parts] == ["MT-000001", "MT-000002", "MT-000003"]
    for part in parts:
        assert part.true_class in {"good", "crack"}
        assert (parts_dir / part.true_class / part.image_name).is_file()
    decoded = {f.frame_id: _decode(f.image) for f in frames}
    seen = {s for texts in decoded.values() for s in texts}
    assert seen == {p.serial for p in parts}
    for part in parts:  # each part's code is read in the frames of its own cycle only
        ids = [fid for fid, texts in decoded.items() if part.serial in texts]
        assert ids and part.frame_enter <= min(ids) and max(ids) < part.frame_enter + 20


def test_each_part_rests_centred_for_the_dwell(parts_dir):
    sim = _sim(parts_dir, parts_per_minute=60, fps=20, dwell_s=0.3, max_parts=2)
    frames = _all_frames(sim)
    x, y, w, h = sim.centre_box
    for part in sim.parts:
        bx, by, bw, bh = part.box
        assert x <= bx and bx + bw <= x + w and y <= by and by + bh <= y + h
        cycle = [f.image[by:by + bh, bx:bx + bw].astype(int)
                 for f in frames[part.frame_enter - 1 : part.frame_enter - 1 + 20]]
        still = [np.abs(a - b).mean() < 6 for a, b in itertools.pairwise(cycle)]
        # 0.3 s at 20 fps: the part stands still for at least 5 consecutive frame pairs ...
        assert max(_runs(still)) >= 5
        # ... and is elsewhere before and after (the black belt alone hardly changes).
        resting = cycle[10]
        assert np.abs(cycle[0] - resting).mean() >= 6 and np.abs(cycle[-1] - resting).mean() >= 6


def _runs(flags):
    runs, n = [0], 0
    for flag in flags:
        n = n + 1 if flag else 0
        runs.append(n)
    return runs


def test_same_seed_same_parts_and_no_codes_when_disabled(parts_dir):
    a = _sim(parts_dir, max_parts=6, seed=3, parts_per_minute=120, fps=20, dwell_s=0.1)
    b = _sim(parts_dir, max_parts=6, seed=3, parts_per_minute=120, fps=20, dwell_s=0.1,
             print_codes=False)
    frames_a, frames_b = _all_frames(a), _all_frames(b)
    assert [(p.true_class, p.image_name) for p in a.parts] == [
        (p.true_class, p.image_name) for p in b.parts
    ]
    assert all(not _decode(f.image) for f in frames_b[::3])
    assert any(_decode(f.image) for f in frames_a)
    assert b.health().state == SourceState.ENDED


def test_shipped_sample_by_default_and_realtime_pacing():
    sim = build_source(SimulatedSourceConfig(type="simulated", fps=5))
    assert sim.is_live is True
    assert sim.centre_box == (192, 108, 256, 264)  # known before open, for trigger ROIs
    sim.open()
    assert sim.read(0.5) is not None
    assert sim.read(0.0) is None  # the next frame is due 0.2 s later
    assert sim.read(1.0) is not None
    assert sim.parts[0].true_class in {"blowhole", "break", "crack", "fray", "free", "uneven"}
    assert sim.health().online


def test_missing_images_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        _sim(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        _sim(tmp_path / "empty")
