"""Numpy next to TensorFlow: keep numpy's BLAS on one thread while we use it.

Right after TensorFlow ran an op, its OpenMP threads spin for a while; a multi-threaded OpenBLAS
call then fights them for the cores. Measured here: a 128×128 SVD took 0.76 s instead of 3 ms, a
4032×384 SVD 9.7 s instead of 0.8 s, ``weight_stats(InceptionV3)`` 95 s instead of 4 s. The arrays
we reduce with numpy are small enough that one thread is plenty. (The limit is process-wide for
its duration; TensorFlow itself does not use this BLAS.)
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = [
    "single_threaded_blas",
]

_CONTROLLER: Any = None
_LOCK = threading.Lock()


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """A context in which numpy's BLAS (OpenBLAS / MKL) runs on one thread.

    Example:
        >>> with single_threaded_blas():
        ...     s = np.linalg.svd(m, compute_uv=False)
    """
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return contextlib.nullcontext()
    with _LOCK:
        if _CONTROLLER is None:
            _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
