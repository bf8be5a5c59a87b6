"""Peak memory of a block of work: the growth of the process's resident memory above its start, sampled in a
thread (`peak_memory`), shared by the comparisons and the speed measurements."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

SAMPLE_S = 0.02


@contextmanager
def peak_memory(every_s: float = SAMPLE_S) -> Iterator[list[int]]:
    """The largest growth of resident memory while the block runs, sampled every `every_s` (in a one-item list)."""
    process, peak, done = psutil.Process(), [0], threading.Event()
    base = process.memory_info().rss

    def sample() -> None:
        while not done.wait(every_s):
            peak[0] = max(peak[0], process.memory_info().rss - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss - base)
