"""Per-batch results written into preallocated arrays.

Inputs stream in batches (:mod:`keras_nnviz.core.inputs`); their results are written, batch by
batch, into one array per result allocated once the first batch shows its shape. Holding the
batches in a list and concatenating them at the end would need the output twice (measured: +207
MB for 80 MB of Grad-CAM maps); here the peak is the output plus one batch. ``out=`` arrays (a
``np.memmap`` included) are written in place, so results larger than memory go to disk.

With a ``tf.data.Dataset`` of unknown length and no ``out=``, the number of rows is only known
at the end: batches are kept and joined once (the old peak), which ``out=`` avoids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import validation
from .errors import InvalidArgumentError

__all__ = [
    "BatchOutput",
]


class BatchOutput:
    """Collects a flat list of per-batch arrays into whole arrays, batch axis first.

    Args:
        n: number of samples when known (arrays are preallocated), else None.
        out: None, one array (one result) or a sequence of arrays (one per result; None
            entries are skipped) to write into; checked against the first batch.
        dtypes: dtype of each result (default: the dtype of the first batch's array).
        batches: number of batches when ``n`` is unknown but the dataset's cardinality is
            known: the arrays are preallocated for ``batches`` × the first batch's rows and
            trimmed to the rows written (the waste is at most the last batch's shortfall).
        auxiliary: how many trailing results are per-sample side information (e.g. the steps
            integrated gradients used), not maps: ``out=`` covers only the others.

    Example:
        >>> sink = BatchOutput(n=1000)
        >>> for batch in batches:
        ...     sink.write([maps_of(batch)])
        >>> (maps,) = sink.result()
    """

    def __init__(
        self,
        n: int | None,
        out: Any = None,
        dtypes: Sequence[Any] | None = None,
        batches: int | None = None,
        auxiliary: int = 0,
    ):
        self.n = n
        self._auxiliary = auxiliary
        self._batches = batches
        self._estimated = False
        self._out = out
        self._dtypes = dtypes
        self._arrays: list[np.ndarray] | None = None
        self._chunks: list[list[np.ndarray]] | None = None
        self.rows = 0
        self._whole = False

    def _given(self, count: int) -> list[np.ndarray] | None:
        if self._out is None:
            return None
        if isinstance(self._out, np.ndarray):
            given = [self._out]
        elif isinstance(self._out, list | tuple):
            given = [o for o in self._out if o is not None]
        else:
            given = [self._out]  # out_array names the wrong type
        if len(given) != count:
            raise InvalidArgumentError(
                f"out= must hold one array per result: this call returns {count} arrays; "
                f"received {len(given)}."
            )
        return given

    def _start(self, parts: Sequence[np.ndarray]) -> None:
        mapped = len(parts) - self._auxiliary
        given = self._given(mapped)
        if given is not None:
            rows = self.n
            for i, (g, p) in enumerate(zip(given, parts)):
                name = "out" if mapped == 1 else f"out[{i}]"
                if rows is None:  # dataset of unknown length: its rows are what out holds
                    rows = g.shape[0] if isinstance(g, np.ndarray) and g.ndim else 0
                validation.out_array(g, (rows, *p.shape[1:]), name)
            side = [np.empty((rows, *p.shape[1:]), p.dtype) for p in parts[mapped:]]
            self._arrays = list(given) + side
        elif self.n is not None and parts[0].shape[0] == self.n:
            # One batch is the whole result: keep it (a copy costs as much as a forward pass).
            dtypes = self._dtypes or [None] * len(parts)
            self._arrays = [np.asarray(p, dtype=d) for p, d in zip(parts, dtypes)]
            self._whole = True
        elif self.n is not None:
            dtypes = self._dtypes or [p.dtype for p in parts]
            self._arrays = [np.empty((self.n, *p.shape[1:]), d) for p, d in zip(parts, dtypes)]
        elif self._batches:
            rows = self._batches * int(parts[0].shape[0])
            dtypes = self._dtypes or [p.dtype for p in parts]
            self._arrays = [np.empty((rows, *p.shape[1:]), d) for p, d in zip(parts, dtypes)]
            self._estimated = True
        else:
            self._chunks = [[] for _ in parts]

    def write(self, parts: Sequence[np.ndarray]) -> None:
        """Append one batch: one array per result, all with the same number of rows."""
        if self._arrays is None and self._chunks is None:
            self._start(parts)
        size = int(parts[0].shape[0])
        if self._chunks is not None:
            dtypes = self._dtypes or [None] * len(parts)
            for chunks, p, d in zip(self._chunks, parts, dtypes):
                chunks.append(np.asarray(p, dtype=d))
        else:
            stop = self.rows + size
            if stop > self._arrays[0].shape[0] and self._estimated:
                # Batches larger than the first one: keep what was written, join at the end.
                self._chunks = [[a[: self.rows]] for a in self._arrays]
                self._arrays, self._estimated = None, False
                self.write(parts)  # again, in chunk mode
                return
            if stop > self._arrays[0].shape[0]:
                raise InvalidArgumentError(
                    f"out= has {self._arrays[0].shape[0]} rows but the input yields more "
                    f"samples ({stop} so far); allocate one row per sample."
                )
            if not self._whole:
                for arr, p in zip(self._arrays, parts):
                    arr[self.rows : stop] = p
        self.rows += size

    def result(self) -> list[np.ndarray]:
        """The whole arrays (the ``out=`` arrays themselves when given)."""
        if self._chunks is not None:
            return [c[0] if len(c) == 1 else np.concatenate(c, axis=0) for c in self._chunks]
        if self._arrays is None:
            raise InvalidArgumentError("The input has no samples (an empty dataset?).")
        if self._estimated:
            return [a[: self.rows] for a in self._arrays]
        if self.rows != self._arrays[0].shape[0]:
            raise InvalidArgumentError(
                f"out= has {self._arrays[0].shape[0]} rows but the input yielded {self.rows} "
                "samples; allocate one row per sample."
            )
        if self._out is not None:
            for arr in self._arrays:
                if isinstance(arr, np.memmap):
                    arr.flush()
        return self._arrays
