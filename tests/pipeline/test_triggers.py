"""Trigger policies on synthetic frame streams: presence with flicker, external nearest frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from inspector.config import ExternalTrigger, PresenceTrigger, Roi
from inspector.domain import Frame
from inspector.pipeline.triggers import ExternalPolicy, PresencePolicy, TriggerRequest

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
H, W = 120, 160
REST_X = 60  # where a part rests, inside the ROI


def frame(image: np.ndarray, i: int, t: float | None = None) -> Frame:
    t = i * 0.04 if t is None else t
    return Frame(image=image, frame_id=i, source_id="syn", t_mono=t,
                 t_utc=T0 + timedelta(seconds=t), name=f"x={i}")


class Scene:
    """A textured belt with parts moving in, resting, moving out; lighting flickers."""

    def __init__(self, seed: int = 0, flicker: float = 0.25) -> None:
        self.rng = np.random.default_rng(seed)
        self.belt = self.rng.integers(60, 100, (H, W)).astype(np.float32)
        self.part = self.rng.integers(170, 250, (40, 40)).astype(np.float32)
        self.flicker = flicker
        self.frames: list[Frame] = []
        self.positions: list[int | None] = []

    def render(self, x: int | None) -> None:
        img = self.belt.copy()
        if x is not None:
            x0, x1 = max(0, x), min(W, x + 40)
            if x1 > x0:
                img[40:80, x0:x1] = self.part[:, x0 - x : x1 - x]
        gain = 1.0 + self.rng.uniform(-self.flicker, self.flicker)
        img = img * gain + self.rng.normal(0, 2, img.shape)
        self.frames.append(frame(np.clip(img, 0, 255).astype(np.uint8), len(self.frames)))
        self.positions.append(x)

    def idle(self, n: int) -> None:
        for _ in range(n):
            self.render(None)

    def passing_part(self, rest_frames: int, step: int = 10) -> None:
        for x in range(-40, REST_X, step):
            self.render(x)
        for _ in range(rest_frames):
            self.render(REST_X)
        for x in range(REST_X + step, W + 10, step):
            self.render(x)


def presence(**overrides) -> PresencePolicy:
    cfg = PresenceTrigger(type="presence", roi=Roi(x=0.3, y=0.25, w=0.4, h=0.5), **overrides)
    return PresencePolicy(cfg)


def run(policy, frames):
    out = []
    for f in frames:
        out += policy.feed(f)
    return out


def test_presence_inspects_each_resting_part_once_despite_flicker():
    scene = Scene()
    scene.idle(10)
    for _ in range(4):
        scene.passing_part(rest_frames=8)
        scene.idle(5)
    triggers = run(presence(), scene.frames)
    assert len(triggers) == 4
    for trig in triggers:
        assert scene.positions[trig.frame.frame_id] == REST_X  # inspected while at rest
        assert trig.kind == "presence" and trig.frame is not None
    assert len({t.part_id for t in triggers}) == 4


def test_presence_ignores_flicker_and_noise_without_parts():
    scene = Scene(seed=3, flicker=0.3)
    scene.idle(200)
    assert run(presence(), scene.frames) == []


def test_presence_inspects_a_part_that_never_settles_once():
    scene = Scene(seed=1)
    scene.idle(5)
    for x in range(-40, W + 10, 6):  # keeps moving through the ROI
        scene.render(x)
    scene.idle(5)
    triggers = run(presence(), scene.frames)
    assert len(triggers) == 1
    x = scene.positions[triggers[0].frame.frame_id]
    assert x is not None and 30 <= x <= 90  # its best frame: mostly inside the ROI


def test_presence_does_not_retrigger_while_part_stays():
    scene = Scene(seed=2)
    scene.idle(5)
    for x in range(-40, REST_X, 10):
        scene.render(x)
    for _ in range(100):
        scene.render(REST_X)
    assert len(run(presence(), scene.frames)) == 1


def ext(max_skew_s: float = 0.05) -> ExternalPolicy:
    return ExternalPolicy(ExternalTrigger(type="external", max_skew_s=max_skew_s))


def img() -> np.ndarray:
    return np.zeros((4, 4), np.uint8)


def req(t: float, serial: str | None = "SN1", part_id: str = "p1") -> TriggerRequest:
    return TriggerRequest(part_id, t, T0 + timedelta(seconds=t), serial)


def test_external_waits_for_a_later_frame_and_picks_the_nearest():
    policy = ext()
    assert policy.feed(frame(img(), 1, t=1.00)) == []
    assert policy.request(req(1.035)) == []     # a later frame could be nearer: wait
    out = policy.feed(frame(img(), 2, t=1.04))
    assert len(out) == 1
    trig = out[0]
    assert trig.frame.frame_id == 2 and trig.serial == "SN1" and trig.part_id == "p1"


def test_external_resolves_at_once_when_frames_after_it_are_buffered():
    policy = ext()
    for i, t in enumerate([1.0, 1.04, 1.08, 1.12]):
        policy.feed(frame(img(), i, t=t))
    [trig] = policy.request(req(1.05))
    assert trig.frame.frame_id == 1


def test_external_without_a_frame_within_skew_gives_no_frame():
    policy = ext(max_skew_s=0.05)
    policy.feed(frame(img(), 1, t=1.0))
    assert policy.request(req(2.0)) == []
    assert policy.poll(2.01) == []              # still within the skew: wait
    [trig] = policy.poll(2.06)                   # none came: no frame
    assert trig.frame is None and trig.part_id == "p1"


def test_external_flush_resolves_pending_requests():
    policy = ext()
    policy.feed(frame(img(), 1, t=1.0))
    policy.request(req(1.01, part_id="a"))
    policy.request(req(5.0, part_id="b"))
    out = {t.part_id: t for t in policy.flush()}
    assert out["a"].frame is not None and out["b"].frame is None
    assert policy.pending == []
