"""Training batches drawn ahead by forked worker processes, so drawing overlaps the steps."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from training.batches import BalancedSampler, Batch, to_batch

POLL_S = 5.0  # how often a wait checks that its worker is still alive

Draw = Callable[[BalancedSampler], list[Any]]


class BatchWorkerError(RuntimeError):
    """A batch worker process failed or died: training cannot go on with a hole in its stream."""


def fork_available() -> bool:
    """Workers are forked (the cached images are shared, not copied): Linux, not Windows."""
    return "fork" in mp.get_all_start_methods()


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
    workers = min(workers, steps)
    ctx = mp.get_context("fork")
    readers, procs = [], []
    try:
        with _opencv_pool_shut():
            for w in range(workers):
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_work, daemon=True, name=f"batches-{w}",
                                   args=(sampler, draw, len(range(w, steps, workers)), writer, (*key, w)))
                proc.start()
                # Only the worker holds its write end (later workers are forked without it), so a
                # worker that dies, even mid-batch, reads here as end-of-file instead of a hang.
                writer.close()
                readers.append(reader)
                procs.append(proc)
        for step in range(steps):
            w = step % workers
            yield to_batch(_receive(readers[w], procs[w]))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for reader in readers:
            reader.close()


@contextmanager
def _opencv_pool_shut() -> Iterator[None]:
    """OpenCV's thread pool does not survive fork: a child that resizes a large image waits forever
    on the parent's pool threads. Shut the pool down while forking; the parent gets it back after."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _receive(reader, proc) -> list[Any]:
    while not reader.poll(POLL_S):
        if not proc.is_alive() and not reader.poll(0):
            raise _exited(proc)
    try:
        status, payload = reader.recv()
    except EOFError:
        proc.join(POLL_S)
        raise _exited(proc) from None
    if status == "error":
        raise BatchWorkerError(f"batch worker {proc.name} failed:\n{payload}")
    return payload


def _exited(proc) -> BatchWorkerError:
    return BatchWorkerError(f"batch worker {proc.name} exited (code {proc.exitcode}) before sending "
                            "its batches")


def _work(sampler: BalancedSampler, draw: Draw, n: int, writer, seed: tuple[int, ...]) -> None:
    try:
        import cv2

        cv2.setNumThreads(1)  # one core a worker: the workers are the parallelism
        sampler.rng = np.random.default_rng(seed)
        for _ in range(n):
            writer.send(("ok", draw(sampler)))
    except BaseException:  # whatever it was, the trainer must hear of it
        writer.send(("error", traceback.format_exc()))
    finally:
        writer.close()
