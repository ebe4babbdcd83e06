"""Batches drawn by forked workers: the same batches for the same worker count, errors surface."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from training.batches import LABELS_ONLY, BalancedSampler, SynthConfig
from training.data import CachedSplit
from training.prefetch import BatchWorkerError, epoch_batches


def _split(n: int = 12, size: int = 48) -> CachedSplit:
    rng = np.random.default_rng(0)
    data = CachedSplit()
    for i in range(n):
        data.images.append(rng.integers(60, 200, (size, size), dtype=np.uint8))
        data.masks.append(None)
        data.labels.append(i % 2)  # class 0 good, class 1 a defect
    return data


def _sampler(seed: int = 3) -> BalancedSampler:
    return BalancedSampler(_split(), 2, 0, 48, seed, recipe=LABELS_ONLY, synth=SynthConfig(0.5, 0.5, "v1"))


def _full(s):
    return s.full_items(4)


def _drawn(workers: int, key=(0, 1, 5)) -> list:
    return list(epoch_batches(_sampler(), _full, 7, workers, key))


def test_workers_give_every_step_and_repeat_for_the_same_count():
    first, again = _drawn(2), _drawn(2)
    assert len(first) == 7
    # each worker has its own stream: steps 0 and 1 come from workers 0 and 1
    assert not np.array_equal(first[0].images.numpy(), first[1].images.numpy())
    assert all(b.images.shape == (4, 1, 48, 48) for b in first)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.images.numpy(), b.images.numpy())
        assert np.array_equal(a.labels.numpy(), b.labels.numpy())
    # another epoch key is another stream
    other = _drawn(2, key=(0, 1, 6))
    pairs = zip(first, other, strict=True)
    assert not all(np.array_equal(a.images.numpy(), b.images.numpy()) for a, b in pairs)


def test_no_workers_draws_from_the_sampler_itself():
    s = _sampler()
    inline = [b.images.numpy() for b in epoch_batches(s, _full, 3, 0, (0,))]
    reference = _sampler()
    for got in inline:
        assert np.array_equal(got, reference.full_batch(4).images.numpy())


def _broken(s):
    raise ValueError("cannot draw this")


def test_a_failing_worker_stops_the_epoch_with_its_error():
    with pytest.raises(BatchWorkerError, match="cannot draw this"):
        list(epoch_batches(_sampler(), _broken, 4, 2, (0,)))


def _dies_on_second_draw(s):
    import os

    s.draws = getattr(s, "draws", 0) + 1
    if s.draws == 2:
        os._exit(3)
    return s.full_items(4)


def test_a_dead_worker_is_reported_not_waited_for(monkeypatch):
    monkeypatch.setattr("training.prefetch.POLL_S", 0.2)
    with pytest.raises(BatchWorkerError, match="exited"):
        list(epoch_batches(_sampler(), _dies_on_second_draw, 6, 2, (0,)))


def _crops(s):
    return s.crop_items(8, 16)


def test_workers_crop_the_defects_located_before_the_epoch():
    # Real defects are cropped only where the training process located them (sampler.pseudo).
    def defect_crops(sampler) -> int:
        return sum(int((b.labels == 1).sum()) for b in epoch_batches(sampler, _crops, 6, 2, (0,)))

    sampler = _sampler()
    assert defect_crops(sampler) == 0
    for i in np.flatnonzero(np.asarray(sampler.data.labels) == 1):
        mask = np.zeros((48, 48), np.uint8)
        mask[20:28, 20:28] = 1
        sampler.pseudo[int(i)] = mask
    assert defect_crops(sampler) > 0


def _resizes_large(s):
    import cv2

    cv2.resize(np.zeros((2400, 2400), np.uint8), (1200, 1200))  # large enough to run in parallel
    return s.full_items(2)


@pytest.mark.timeout(60)
def test_workers_do_not_hang_on_opencvs_thread_pool():
    # A parent whose OpenCV pool is running (image loading warms it) must not hand a dead pool to
    # its forked workers: before the fix this waited forever.
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        cv2.resize(np.zeros((2400, 2400), np.uint8), (1200, 1200))
        assert len(list(epoch_batches(_sampler(), _resizes_large, 4, 2, (0,)))) == 4
        assert cv2.getNumThreads() == 2  # the parent keeps its pool
    finally:
        cv2.setNumThreads(before)


def test_more_workers_than_steps_draw_each_step_once():
    assert len(list(epoch_batches(_sampler(), _full, 2, 5, (0,)))) == 2


def test_bench_batches_measures_each_worker_count(capsys):
    from tests.scripts import load_script

    result = load_script("bench_batches").main(["--steps", "3", "--workers", "0", "2", "--input-size", "96"])
    assert set(result["by_workers"]) == {"0", "2"}
    assert all(r["crop_batch_s"] > 0 and r["full_batch_s"] > 0 for r in result["by_workers"].values())
    assert '"bench": "batches"' in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--set", "loader_workers=-1"], "loader_workers >= 0"),
    (["--set", "tta=identity,rot45"], "unknown view"),
    (["--set", "tta=identity, hflip,identity"], "name each view once"),
])
def test_option_checks_refuse_before_training(extra, message):
    from inspector.errors import ConfigError
    from training.options import check_args, get_args_parser

    with pytest.raises(ConfigError, match=message):
        check_args(get_args_parser().parse_args(["d", "--out", "o", *extra]))
