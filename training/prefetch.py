"""Training batches drawn ahead by forked worker processes, so drawing overlaps the steps."""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from training.batches import BalancedSampler, Batch, to_batch

DEPTH = 3         # batches a worker may hold ready
POLL_S = 5.0      # how often a wait checks that its worker is still alive

Draw = Callable[[BalancedSampler], list[Any]]


class BatchWorkerError(RuntimeError):
    """A batch worker process failed or died: training cannot go on with a hole in its stream."""


def epoch_batches(sampler: BalancedSampler, draw: Draw, steps: int, workers: int,
                  key: tuple[int, ...]) -> Iterator[Batch]:
    """`steps` batches of `draw(sampler)`.

    workers 0: drawn here from the sampler's own stream (the reference, repeatable run to run).
    workers N: N forked processes, worker w drawing steps w, w + N, ... from a stream seeded by
    (*key, w), so a run is repeatable for a given N. Each worker sees the sampler as it is when
    the epoch starts (real defects located so far included); the training process keeps the GPU.
    """
    if workers <= 0:
        for _ in range(steps):
            yield to_batch(draw(sampler))
        return
    ctx = mp.get_context("fork")  # the sampler's cached images are shared, not pickled
    queues = [ctx.Queue(DEPTH) for _ in range(workers)]
    procs = [ctx.Process(target=_work, args=(sampler, draw, len(range(w, steps, workers)), q, (*key, w)),
                         daemon=True, name=f"batches-{w}") for w, q in enumerate(queues)]
    _start(procs)
    try:
        for step in range(steps):
            w = step % workers
            yield to_batch(_receive(queues[w], procs[w]))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for q in queues:
            q.close()


def _start(procs) -> None:
    # OpenCV's thread pool does not survive fork: a child that resizes a large image waits forever
    # on the parent's workers. Shut the pool down while forking; the parent gets it back after.
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for proc in procs:
            proc.start()
    finally:
        cv2.setNumThreads(threads)


def _receive(q, proc) -> list[Any]:
    while True:
        try:
            status, payload = q.get(timeout=POLL_S)
        except queue.Empty:
            if proc.is_alive():
                continue
            try:  # it may have sent its last batch just before it exited
                status, payload = q.get(timeout=POLL_S)
            except queue.Empty:
                raise BatchWorkerError(f"batch worker {proc.name} exited (code {proc.exitcode}) "
                                       "before sending its batches") from None
        if status == "error":
            raise BatchWorkerError(f"batch worker {proc.name} failed:\n{payload}")
        return payload


def _work(sampler: BalancedSampler, draw: Draw, n: int, q, seed: tuple[int, ...]) -> None:
    try:
        import cv2

        cv2.setNumThreads(1)  # one core a worker: the workers are the parallelism
        sampler.rng = np.random.default_rng(seed)
        for _ in range(n):
            q.put(("ok", draw(sampler)))
    except BaseException:  # whatever it was, the trainer must hear of it
        q.put(("error", traceback.format_exc()))
    finally:
        q.close()
        q.join_thread()
