"""The frame loop, written once: decode -> process -> encode, overlapped.

Decoding and encoding run on their own threads with bounded queues, so memory
does not grow with video length and the model (in the calling thread) does not
wait on I/O. PyAV and the inference backends release the GIL while they work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

import numpy as np

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def run_frames(
    frames: Iterable[np.ndarray],
    process: Callable[[np.ndarray], np.ndarray],
    sink: Callable[[np.ndarray], None],
    *,
    depth: int = 4,
    on_frame: Callable[[int], None] | None = None,
    batch: int = 1,
) -> int:
    """Feed every frame through ``process`` into ``sink``; returns the frame count.

    ``frames`` is consumed on a reader thread and ``sink`` runs on a writer thread;
    at most ``depth`` frames wait in each queue. The first error on any thread
    stops the others and is re-raised here. With ``batch > 1``, ``process`` takes
    and returns a list of up to ``batch`` frames (whatever is ready; never waits
    to fill a batch), for GPUs that like several frames per call.
    """
    depth = max(depth, batch)
    inbox: queue.Queue = queue.Queue(maxsize=depth)
    outbox: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue):
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return _DONE

    def read() -> None:
        try:
            for frame in frames:
                if not put(inbox, frame):
                    return
            put(inbox, _DONE)
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            put(inbox, _Failure(e))

    writer_error: list[BaseException] = []

    def write() -> None:
        try:
            while (item := get(outbox)) is not _DONE:
                sink(item)
        except BaseException as e:  # noqa: BLE001
            writer_error.append(e)
            stop.set()

    reader = threading.Thread(target=read, name="vidpipe-decode", daemon=True)
    writer = threading.Thread(target=write, name="vidpipe-encode", daemon=True)
    reader.start()
    writer.start()
    count = 0
    try:
        finished = False
        while not finished and (item := get(inbox)) is not _DONE:
            items = [item]
            while len(items) < batch:
                try:
                    more = inbox.get_nowait()
                except queue.Empty:
                    break
                if more is _DONE:
                    finished = True
                    break
                items.append(more)
            for i in items:
                if isinstance(i, _Failure):
                    raise i.exc
            results = process(items) if batch > 1 else [process(items[0])]
            for result in results:
                if not put(outbox, result):
                    finished = True
                    break
                count += 1
                if on_frame:
                    on_frame(count)
        put(outbox, _DONE)
    except BaseException:
        stop.set()
        raise
    finally:
        writer.join()
        stop.set()
        reader.join()
    if writer_error:
        raise writer_error[0]
    return count


def write_segment(
    frames: Iterable,
    process: Callable,
    out,
    size: tuple[int, int],
    fps: float,
    expected: int | None,
    *,
    alpha: bool = False,
    deep: bool = False,
    batch: int = 1,
    on_frame: Callable[[int], None] | None = None,
    before_rename: Callable[[], None] | None = None,
):
    """The body of every per-segment stage: ``frames`` through ``process`` into a
    lossless file ``out`` of ``size`` (RGBA with ``alpha``, 16-bit with ``deep``), checked to hold exactly
    ``expected`` frames (``None``: any number). ``before_rename`` runs once the frames are written but
    before the file is renamed into place (e.g. to save a sidecar)."""
    from vidpipe.errors import MediaError
    from vidpipe.media.writer import LosslessWriter

    with LosslessWriter(out, *size, fps=fps, alpha=alpha, deep=deep) as writer:
        n = run_frames(frames, process, writer.write, on_frame=on_frame, batch=batch)
        if expected is not None and n != expected:
            raise MediaError(f"{out}: got {n} frames, expected {expected}")
        if before_rename:
            before_rename()
    return out
