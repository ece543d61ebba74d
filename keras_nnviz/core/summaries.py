"""Mergeable running summaries: statistics of a stream of batches in one pass, in memory bounded
by the batch, whatever the length of the stream.

:class:`Moments` keeps count, mean, the sum of squared deviations (``M2``), min and max per
column and merges each batch's own moments into the running ones (Chan, Golub and LeVeque's
pairwise update of Welford's algorithm): unlike a running sum of squares it does not lose the
variance of values with a large mean to cancellation. Two summaries of two parts of the data
merge into the summary of the whole (:meth:`Moments.merge`), so workers or shards can each
summarise their part.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Moments",
]


class Moments:
    """Count, mean, variance, min and max of a stream, per column (or of all values).

    Args:
        columns: None: one summary of every value fed; an int: rows of ``(rows, columns)``
            arrays are summarised per column.

    Attributes:
        count: values (rows) seen.
        mean, m2, low, high: float64 arrays of shape ``()`` or ``(columns,)``.

    Example:
        >>> m = Moments()
        >>> for batch in batches:
        ...     m.update(batch)
        >>> m.mean, m.std
    """

    def __init__(self, columns: int | None = None):
        shape = () if columns is None else (int(columns),)
        self.columns = columns
        self.count = 0
        self.mean = np.zeros(shape)
        self.m2 = np.zeros(shape)
        self.low = np.full(shape, np.inf)
        self.high = np.full(shape, -np.inf)

    def update(self, values: Any) -> None:
        """Add a batch: any array (all its values) or, per column, ``(rows, columns)``."""
        a = np.asarray(values, dtype=np.float64)
        a = a.reshape(-1) if self.columns is None else a.reshape(-1, self.columns)
        if a.shape[0] == 0:
            return
        mean = a.mean(axis=0)
        part = Moments(self.columns)
        part.count = a.shape[0]
        part.mean = mean
        part.m2 = np.square(a - mean).sum(axis=0)
        part.low, part.high = a.min(axis=0), a.max(axis=0)
        self.merge(part)

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` (a summary of other values) into this one; returns self."""
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.count / total)
        self.m2 = self.m2 + other.m2 + np.square(delta) * (self.count * other.count / total)
        self.count = total
        self.low = np.minimum(self.low, other.low)
        self.high = np.maximum(self.high, other.high)
        return self

    @property
    def var(self) -> np.ndarray:
        """Population variance (``ddof=0``, as ``np.var``); NaN before any value."""
        return self.m2 / self.count if self.count else np.full(self.mean.shape, np.nan)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (as ``np.std``)."""
        return np.sqrt(self.var)
