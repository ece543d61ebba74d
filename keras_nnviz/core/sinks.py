"""The one writer of per-batch results: every compute function that returns per-sample arrays
collects its batches here, and ``out=`` is handled here for all of them.

Inputs stream in batches (:mod:`keras_nnviz.core.inputs`); their results are written, batch by
batch, into one array per result allocated once the first batch shows its shape. Holding the
batches in a list and concatenating them at the end would need the output twice (measured: +207
MB for 80 MB of Grad-CAM maps); here the peak is the output plus one batch.

``out=`` targets, one per result:

- a writable floating numpy array (a ``np.memmap`` or one from ``np.lib.format.open_memmap``
  included) of exactly the result's shape: written in place, batch by batch;
- a path ending in ``.npy``: rows are appended to that file as they come (:class:`NpyWriter`),
  so its length need not be known in advance (a ``tf.data.Dataset`` of unknown cardinality);
  the result is the file opened read-only with ``mmap_mode="r"``.

Either way memory is bounded by the batch, not the dataset. With a ``tf.data.Dataset`` of
unknown length and no ``out=``, the number of rows is only known at the end: batches are kept
and joined once (the peak is the output twice), which ``out=`` avoids.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import validation
from ..errors import InvalidArgumentError

__all__ = [
    "BatchOutput",
    "KeyedOutput",
    "keyed_out",
    "NpyWriter",
]

_MAGIC = b"\x93NUMPY\x01\x00"  # .npy format version 1.0
_ALIGN = 64  # numpy pads the header so the data starts on a 64-byte boundary


class NpyWriter:
    """Append rows to a ``.npy`` file whose number of rows is known only at the end.

    The header is written first with room for any row count and rewritten by :meth:`close`
    with the rows written (the `.npy format <https://numpy.org/doc/stable/reference/generated/
    numpy.lib.format.html>`_, version 1.0: a padded Python-literal header). Each :meth:`write`
    goes straight to the file: memory is one batch.

    Args:
        path: the file (created or overwritten; its folder must exist).
        dtype: the rows' dtype.
        row_shape: the shape of one row (a sample's result).

    Example:
        >>> w = NpyWriter("acts.npy", np.float32, (16,))
        >>> for batch in batches:
        ...     w.write(batch)              # (B, 16)
        >>> acts = w.close()                # np.load("acts.npy", mmap_mode="r")
    """

    def __init__(self, path: str | os.PathLike, dtype: Any, row_shape: Sequence[int]):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(d) for d in row_shape)
        self.rows = 0
        # The longest shape a header can hold sizes it; the real one is padded to that length.
        self._length = len(self._header(10**18, pad=0))
        self._length += -(len(_MAGIC) + 2 + self._length) % _ALIGN
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise InvalidArgumentError(
                f"Cannot write out={str(path)!r} ({exc.strerror or exc}); pass a .npy path in "
                "an existing, writable folder."
            ) from None
        self._file.write(self._prefix(10**18))

    def _header(self, rows: int, pad: int) -> bytes:
        meta = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (rows, *self.row_shape),
        }
        text = repr(meta)
        return (text + " " * max(pad - len(text) - 1, 0) + "\n").encode("latin1")

    def _prefix(self, rows: int) -> bytes:
        header = self._header(rows, self._length)
        return _MAGIC + len(header).to_bytes(2, "little") + header

    def write(self, part: np.ndarray) -> None:
        """Append ``part`` (rows of ``row_shape``) to the file."""
        part = np.asarray(part)
        if tuple(part.shape[1:]) != self.row_shape:
            raise InvalidArgumentError(
                f"Rows of shape {tuple(part.shape[1:])} cannot follow rows of shape "
                f"{self.row_shape} in {str(self.path)!r}."
            )
        np.ascontiguousarray(part, dtype=self.dtype).tofile(self._file)
        self.rows += int(part.shape[0])

    def close(self) -> np.ndarray:
        """Write the final header and close the file; the array, memory-mapped read-only."""
        if not self._file.closed:
            self._file.seek(0)
            self._file.write(self._prefix(self.rows))
            self._file.close()
        if self.rows == 0 or 0 in self.row_shape:
            return np.load(self.path)  # an empty file cannot be memory-mapped
        return np.load(self.path, mmap_mode="r")


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike) and not isinstance(value, bool)


def _npy_path(value: Any, what: str) -> str:
    path = validation.path_like(what, value)
    if not str(path).endswith(".npy"):
        raise InvalidArgumentError(
            f"{what} as a path must name a .npy file (rows are appended as they come); "
            f"received {str(path)!r}. Example: out='maps.npy'."
        )
    if not Path(path).parent.is_dir():
        raise InvalidArgumentError(
            f"{what}={str(path)!r}: the folder {str(Path(path).parent)!r} does not exist; "
            "create it first."
        )
    return path


def keyed_out(out: Any, keys: Sequence[str], what: str = "out") -> list[Any] | None:
    """``out=`` of a function returning ``{key: array}``, as a list aligned to ``keys``.

    Args:
        out: None, or a mapping with exactly the result's keys.
        keys: the keys of the result, in order.
        what: the argument's name, for errors.

    Raises:
        InvalidArgumentError: not a mapping, or other keys than the result's.

    Example:
        >>> keyed_out({"dense": buf}, ["dense"])
        [buf]
    """
    if out is None:
        return None
    if not isinstance(out, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a dict {{key: array or .npy path}} with one entry per result "
            f"(keys {list(keys)}); received {type(out).__name__}."
        )
    if sorted(map(str, out)) != sorted(keys):
        raise InvalidArgumentError(
            f"{what} must have one entry per result: keys {list(keys)}; received keys "
            f"{sorted(map(str, out))}."
        )
    return [out[k] for k in keys]


class BatchOutput:
    """Collects a flat list of per-batch arrays into whole arrays, batch axis first.

    Args:
        n: number of samples when known (arrays are preallocated), else None.
        out: None, one target (one result) or a sequence of targets (one per result; None
            entries are skipped), checked against the first batch. A target is a writable
            floating numpy array (``np.memmap`` too) of the result's shape, or a ``.npy`` path
            (see the module docstring).
        dtypes: dtype of each result (default: the dtype of the first batch's array).
        batches: number of batches when ``n`` is unknown but the dataset's cardinality is
            known: the arrays are preallocated for ``batches`` × the first batch's rows and
            trimmed to the rows written (the waste is at most the last batch's shortfall).
        auxiliary: how many trailing results are per-sample side information (e.g. the steps
            integrated gradients used), not maps: ``out=`` covers only the others.
        names: how the results are named in errors (default ``out`` / ``out[i]``).

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
        names: Sequence[str] | None = None,
    ):
        self.n = n
        self._auxiliary = auxiliary
        self._batches = batches
        self._estimated = False
        self._out = out
        self._dtypes = dtypes
        self._names = names
        self._arrays: list[Any] | None = None
        self._chunks: list[list[np.ndarray]] | None = None
        self.rows = 0
        self._whole = False

    def _given(self, count: int) -> list[Any] | None:
        if self._out is None:
            return None
        if isinstance(self._out, np.ndarray) or _is_path(self._out):
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

    def _name(self, i: int, count: int) -> str:
        if self._names is not None:
            return self._names[i]
        return "out" if count == 1 else f"out[{i}]"

    def _start(self, parts: Sequence[np.ndarray]) -> None:
        mapped = len(parts) - self._auxiliary
        given = self._given(mapped)
        if given is not None:
            rows = self.n
            targets: list[Any] = []
            for i, (g, p) in enumerate(zip(given, parts)):
                name = self._name(i, mapped)
                if _is_path(g):
                    targets.append(NpyWriter(_npy_path(g, name), p.dtype, p.shape[1:]))
                    continue
                if rows is None:  # dataset of unknown length: its rows are what out holds
                    rows = g.shape[0] if isinstance(g, np.ndarray) and g.ndim else 0
                targets.append(validation.out_array(g, (rows, *p.shape[1:]), name, p.dtype))
            side_rows = rows if rows is not None else 0
            side = [np.empty((side_rows, *p.shape[1:]), p.dtype) for p in parts[mapped:]]
            if side and rows is None:  # only .npy targets and an unknown length: join at the end
                self._chunks = [[] for _ in parts[mapped:]]
                side = []
            self._arrays = targets + side
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

    def _capacity(self) -> int | None:
        """Rows the preallocated arrays hold (None: no limit, .npy files only)."""
        sized = [a for a in self._arrays or [] if isinstance(a, np.ndarray)]
        return sized[0].shape[0] if sized else None

    def write(self, parts: Sequence[np.ndarray]) -> None:
        """Append one batch: one array per result, all with the same number of rows."""
        if self._arrays is None and self._chunks is None:
            self._start(parts)
        size = int(parts[0].shape[0])
        if self._arrays is None:
            dtypes = self._dtypes or [None] * len(parts)
            for chunks, p, d in zip(self._chunks, parts, dtypes):
                chunks.append(np.asarray(p, dtype=d))
            self.rows += size
            return
        stop = self.rows + size
        capacity = self._capacity()
        if capacity is not None and stop > capacity and self._estimated:
            # Batches larger than the first one: keep what was written, join at the end.
            self._chunks = [[a[: self.rows]] for a in self._arrays]
            self._arrays, self._estimated = None, False
            self.write(parts)  # again, in chunk mode
            return
        if capacity is not None and stop > capacity:
            raise InvalidArgumentError(
                f"out= has {capacity} rows but the input yields more samples ({stop} so far); "
                "allocate one row per sample."
            )
        if not self._whole:
            for arr, p in zip(self._arrays, parts):
                if isinstance(arr, NpyWriter):
                    arr.write(p)
                else:
                    arr[self.rows : stop] = p
            if self._chunks is not None:  # side results of .npy-only targets
                for chunks, p in zip(self._chunks, parts[len(self._arrays) :]):
                    chunks.append(np.asarray(p))
        self.rows += size

    def result(self) -> list[np.ndarray]:
        """The whole arrays (the ``out=`` arrays themselves when given; a ``.npy`` target comes
        back as the file, memory-mapped read-only)."""
        if self._arrays is None and self._chunks is not None:
            return [c[0] if len(c) == 1 else np.concatenate(c, axis=0) for c in self._chunks]
        if self._arrays is None:
            raise InvalidArgumentError("The input has no samples (an empty dataset?).")
        if self._estimated:
            return [a[: self.rows] for a in self._arrays]
        capacity = self._capacity()
        if capacity is not None and self.rows != capacity:
            raise InvalidArgumentError(
                f"out= has {capacity} rows but the input yielded {self.rows} samples; allocate "
                "one row per sample."
            )
        done = [a.close() if isinstance(a, NpyWriter) else a for a in self._arrays]
        if self._chunks is not None:
            done += [np.concatenate(c, axis=0) for c in self._chunks]
        if self._out is not None:
            for arr in done:
                if isinstance(arr, np.memmap) and arr.mode != "r":
                    arr.flush()
        return done


def _flatten(tree: Mapping[str, Any], prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """``[(key path, leaf)]`` of a dict of arrays, or of dicts of arrays."""
    out: list[tuple[tuple, Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out += _flatten(value, (*prefix, key))
        else:
            out.append(((*prefix, key), value))
    return out


class KeyedOutput:
    """:class:`BatchOutput` for results keyed by name: each batch gives ``{key: array}`` (or
    ``{key: {name: array}}``); ``out=`` is a dict of targets with exactly the result's keys
    (nested the same way), checked against the first batch.

    Args:
        n: number of samples when known.
        out: None, or the dict of targets (arrays or ``.npy`` paths).
        batches: as for :class:`BatchOutput`.

    Example:
        >>> sink = KeyedOutput(None, out={"mha": "mha.npy"})
        >>> for batch in batches:
        ...     sink.write({"mha": maps_of(batch)})
        >>> sink.result()["mha"].shape
    """

    def __init__(self, n: int | None, out: Any = None, batches: int | None = None):
        if out is not None and not isinstance(out, Mapping):
            raise InvalidArgumentError(
                "out must be a dict of arrays or .npy paths keyed like the result; received "
                f"{type(out).__name__}."
            )
        self.n, self._out, self._batches = n, out, batches
        self._keys: list[tuple] | None = None
        self._sink: BatchOutput | None = None

    def write(self, parts: Mapping[str, Any]) -> None:
        """Append one batch: ``{key: array}`` (or one level deeper), the same keys each time."""
        flat = _flatten(parts)
        if self._sink is None:
            self._keys = [k for k, _ in flat]
            names = ["out" + "".join(f"[{p!r}]" for p in k) for k in self._keys]
            targets = None
            if self._out is not None:
                given = dict(_flatten(self._out))
                if sorted(given) != sorted(self._keys):
                    show = [k[0] if len(k) == 1 else k for k in self._keys]
                    got = [k[0] if len(k) == 1 else k for k in given]
                    raise InvalidArgumentError(
                        f"out must have one entry per result: keys {show}; received keys {got}."
                    )
                targets = [given[k] for k in self._keys]
            self._sink = BatchOutput(self.n, targets, batches=self._batches, names=names)
        self._sink.write([np.asarray(a) for _, a in flat])

    def result(self) -> dict[str, Any]:
        """The whole results, keyed (and nested) like the batches; ``{}`` without batches."""
        if self._sink is None:
            return {}
        out: dict[str, Any] = {}
        for key, array in zip(self._keys, self._sink.result()):
            node = out
            for part in key[:-1]:
                node = node.setdefault(part, {})
            node[key[-1]] = array
        return out
