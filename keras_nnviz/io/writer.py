"""The background writer: one thread per process that renders and writes, in submission order."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "BackgroundWriter",
]


class BackgroundWriter:
    """One thread per process that renders and writes, in submission order.

    Callbacks submit closures holding numpy results; the training thread never waits for
    rendering or disk except when a callback has ``max_pending`` snapshots queued
    (back-pressure, so a slow disk cannot pile up memory) and at train end.
    """

    _executor: concurrent.futures.ThreadPoolExecutor | None = None
    _lock = threading.Lock()

    @classmethod
    def submit(cls, fn: Callable[[], Any]) -> concurrent.futures.Future:
        with cls._lock:
            if cls._executor is None:
                cls._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="nnviz-writer"
                )
            return cls._executor.submit(fn)

    @classmethod
    def drain(cls, timeout: float | None = None) -> None:
        """Wait until every task submitted so far has run (the thread runs them in order).

        Example:
            >>> BackgroundWriter.drain(timeout=60)   # after an interrupted fit, before reading
        """
        with cls._lock:
            executor = cls._executor
        if executor is not None:
            executor.submit(lambda: None).result(timeout)
