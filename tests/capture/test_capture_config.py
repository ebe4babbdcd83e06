"""Source configs: CLI specs, validation errors, the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.capture import (
    SOURCES,
    FolderSourceConfig,
    FrameSource,
    SimulatedSourceConfig,
    StreamSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
    build_source,
    parse_source_spec,
    validate_source_config,
)
from inspector.capture.folder import FolderSource
from inspector.capture.simulated import SimulatedLine
from inspector.capture.stream import StreamCamera
from inspector.capture.usb import UsbCamera
from inspector.capture.video import VideoFileSource
from inspector.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "kind", "attr", "value"),
    [
        ("usb:0", UsbSourceConfig, "device", 0),
        ("usb:2", UsbSourceConfig, "device", 2),
        ("usb", UsbSourceConfig, "device", 0),
        ("usb:/dev/v4l/by-id/usb-cam-video-index0", UsbSourceConfig, "device",
         "/dev/v4l/by-id/usb-cam-video-index0"),
        ("/dev/video3", UsbSourceConfig, "device", "/dev/video3"),
        ("rtsp://10.0.0.5:554/stream1", StreamSourceConfig, "url", "rtsp://10.0.0.5:554/stream1"),
        ("http://cam.local/mjpg", StreamSourceConfig, "url", "http://cam.local/mjpg"),
        ("video:line.mp4", VideoSourceConfig, "path", Path("line.mp4")),
        ("recordings/shift1.AVI", VideoSourceConfig, "path", Path("recordings/shift1.AVI")),
        ("folder:replay", FolderSourceConfig, "path", Path("replay")),
        ("simulated", SimulatedSourceConfig, "images",
         Path("datasets/magnetic-tile-sample/images")),
        ("sim:my/parts", SimulatedSourceConfig, "images", Path("my/parts")),
    ],
)
def test_parse_source_spec(spec, kind, attr, value):
    cfg = parse_source_spec(spec)
    assert isinstance(cfg, kind)
    assert getattr(cfg, attr) == value


def test_existing_directory_is_a_folder_source(tmp_path):
    cfg = parse_source_spec(str(tmp_path))
    assert isinstance(cfg, FolderSourceConfig)
    assert cfg.path == tmp_path


@pytest.mark.parametrize("spec", ["", "nonsense", "ftp://host/x", "does/not/exist"])
def test_unknown_spec_is_a_clear_config_error(spec):
    with pytest.raises(ConfigError, match="usb:0"):
        parse_source_spec(spec)


def test_extra_keys_are_forbidden():
    with pytest.raises(ConfigError, match="exposur"):
        validate_source_config({"type": "usb", "device": 0, "exposur": 10})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "webcam"}, "type"),
        ({"type": "usb", "fourcc": "MJPEG"}, "fourcc"),
        ({"type": "usb", "width": 1280}, "width and height"),
        ({"type": "usb", "reconnect_initial_s": 5, "reconnect_max_s": 1}, "reconnect_max_s"),
        ({"type": "usb", "stale_after_frames": 1}, "stale_after_frames"),
        ({"type": "stream", "url": "10.0.0.5/stream"}, "url"),
        ({"type": "video"}, "path"),
        ({"type": "simulated", "parts_per_minute": 600, "dwell_s": 0.3}, "parts_per_minute"),
        ({"type": "simulated", "fps": 0}, "fps"),
    ],
)
def test_invalid_configs_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate_source_config(raw)


def test_every_field_has_a_description():
    for model in (UsbSourceConfig, StreamSourceConfig, VideoSourceConfig, FolderSourceConfig,
                  SimulatedSourceConfig):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_source_ids_default_to_target_and_hide_credentials():
    assert parse_source_spec("usb:1").source_id() == "usb:1"
    assert parse_source_spec("rtsp://admin:secret@10.0.0.5/s1").source_id() == "rtsp://10.0.0.5/s1"
    cfg = validate_source_config({"type": "usb", "device": 0, "id": "top-cam"})
    assert cfg.source_id() == "top-cam"


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("usb:0", UsbCamera),
        ("rtsp://h/s", StreamCamera),
        ("video:a.mp4", VideoFileSource),
        ("folder:x", FolderSource),
        ("simulated", SimulatedLine),
    ],
)
def test_build_source_uses_the_registry_without_opening(spec, cls):
    source = build_source(parse_source_spec(spec))  # constructing touches no device or file
    assert isinstance(source, cls)
    assert SOURCES[parse_source_spec(spec).type] is cls
    assert isinstance(source, FrameSource)
    assert source.source_id and source.health().online is False
