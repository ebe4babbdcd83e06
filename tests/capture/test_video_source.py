"""VideoFileSource: every frame unpaced, native pacing with skips, looping, errors."""

from __future__ import annotations

import time

import pytest

from inspector.capture import SourceState, VideoSourceConfig, build_source
from inspector.errors import EndOfSource, SourceError


def _video_source(path, **kw):
    source = build_source(VideoSourceConfig(type="video", path=path, **kw))
    source.open()
    return source


def test_unpaced_delivers_every_frame_then_ends(tmp_path, make_video):
    source = _video_source(make_video(tmp_path / "clip.avi", frames=12, fps=25))
    assert source.is_live is False
    frames = []
    with pytest.raises(EndOfSource):
        while True:
            frames.append(source.read(0.5))
    assert len(frames) == 12
    assert [f.frame_id for f in frames] == list(range(1, 13))
    assert frames[0].name == "clip.avi#000000" and frames[-1].name == "clip.avi#000011"
    assert frames[0].image.shape == (48, 64, 3)
    # Frames differ (uniform gray levels 10, 30, 50, ... plus a digit).
    assert frames[1].image[40, 60, 0] > frames[0].image[40, 60, 0]
    assert source.health().state == SourceState.ENDED
    assert source.fps == pytest.approx(25)


def test_paced_waits_for_the_next_frame(tmp_path, make_video):
    source = _video_source(make_video(tmp_path / "clip.avi", frames=5, fps=5), paced=True)
    assert source.is_live is True
    first = source.read(0.5)
    assert first is not None
    assert source.read(0.0) is None  # the next frame is due 0.2 s later
    second = source.read(1.0)
    assert second is not None and second.frame_id == first.frame_id + 1


def test_paced_skips_frames_a_slow_reader_missed(tmp_path, make_video):
    path = make_video(tmp_path / "clip.avi", frames=30, fps=25)
    source = _video_source(path, paced=True, fps=100.0)
    delivered = []
    with pytest.raises(EndOfSource):
        while True:
            frame = source.read(0.5)
            if frame is not None:
                delivered.append(frame)
            time.sleep(0.03)  # slower than 100 fps: a camera would not wait for us
    unpaced = _video_source(path)
    every = 0
    with pytest.raises(EndOfSource):
        while True:
            unpaced.read(0.5)
            every += 1
    assert every == 30
    assert len(delivered) < 30
    assert len(delivered) + source.health().superseded == 30
    positions = [int(f.name.split("#")[1]) for f in delivered]
    assert positions == sorted(positions)


def test_loop_restarts_with_increasing_ids(tmp_path, make_video):
    source = _video_source(make_video(tmp_path / "clip.avi", frames=4), loop=True)
    frames = [source.read(0.5) for _ in range(10)]
    assert [f.name.split("#")[1] for f in frames] == [
        "000000", "000001", "000002", "000003", "000000", "000001", "000002", "000003",
        "000000", "000001",
    ]
    assert [f.frame_id for f in frames] == list(range(1, 11))


def test_missing_or_undecodable_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        _video_source(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError, match="cannot decode"):
        _video_source(junk)
