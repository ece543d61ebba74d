"""Exceptions raised by keras_nnviz.

Every user mistake raises a subclass of :class:`NNVizError`. Each subclass also derives from the
built-in exception a Python user would expect (``ValueError``, ``TypeError``), so existing
``except ValueError`` code keeps working. Messages say what was received and what would work.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AmbiguousLayerError",
    "close_matches",
    "DiagnosisWarning",
    "format_list",
    "IncompatibleLayerError",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTargetError",
    "LayerNotFoundError",
    "ManifestError",
    "ManifestWarning",
    "MethodWarning",
    "NNVizError",
    "NonFiniteWarning",
    "UnsupportedModelError",
]


class NNVizError(Exception):
    """Base class of every error keras_nnviz raises on purpose."""

    # AutoGraph re-raises an error from inside a tf.function as its own type only when that
    # type's __init__ is Exception.__init__; otherwise users get a StagingError instead of the
    # NNVizError (and `except ValueError` misses it). ValueError/TypeError define their own.
    __init__ = Exception.__init__


class LayerNotFoundError(NNVizError, ValueError):
    """A layer reference (path, name, index or object) does not resolve in the model."""


class AmbiguousLayerError(LayerNotFoundError):
    """A plain layer name matches several layers in nested models; a full path is needed."""


class IncompatibleLayerError(NNVizError, ValueError):
    """The layer exists but cannot serve the requested computation (e.g. not recurrent)."""


class InvalidInputError(NNVizError, ValueError):
    """Input data has the wrong structure, rank, shape, dtype or values for the model."""


class InvalidTargetError(NNVizError, ValueError):
    """A target (class index, output head, score callable) does not fit the model's outputs."""


class InvalidArgumentError(NNVizError, ValueError):
    """An argument outside the documented set of values."""


class UnsupportedModelError(NNVizError, TypeError):
    """The object is not a model keras_nnviz can explain, or lacks what the call needs."""


class ManifestError(NNVizError, ValueError):
    """A ``log_dir``'s manifest (``nnviz_manifest.json``) whose structure cannot be used: not
    JSON, not an object, no ``entries`` list. (Single damaged entries are left out with a
    :class:`ManifestWarning` instead.)"""


class ManifestWarning(UserWarning):
    """Part of a ``log_dir``'s index was damaged and left out, or an index of an unknown format
    was read (and kept aside) rather than replaced."""


class DiagnosisWarning(UserWarning):
    """The diagnosis of a training (``nv.callbacks.Doctor``) found a new problem: the message
    names its code, where it is and what to try."""


class MethodWarning(UserWarning):
    """A method runs but cannot mean what its name promises for this model (e.g. guided
    backpropagation on a model without ReLUs gives plain gradients)."""


class NonFiniteWarning(MethodWarning):
    """A result holds NaN / inf values; names the first layer whose weights are not finite
    (``allow_nonfinite=True`` silences it)."""


def close_matches(word: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` candidates that look like ``word``, best first.

    Matches on the whole path and on its last segment, so ``"conv"`` finds
    ``"base/block1_conv"``.
    """
    candidates = list(candidates)
    by_last = {c.rsplit("/", 1)[-1]: c for c in candidates}
    found = difflib.get_close_matches(word, candidates, n=n, cutoff=0.5)
    for hit in difflib.get_close_matches(word.rsplit("/", 1)[-1], list(by_last), n=n, cutoff=0.5):
        if by_last[hit] not in found:
            found.append(by_last[hit])
    for c in candidates:
        if word and word in c and c not in found:
            found.append(c)
    return found[:n]


def format_list(items: Iterable[str], limit: int = 12) -> str:
    """Render ``items`` as a short quoted list, eliding the middle of long ones."""
    items = [repr(i) for i in items]
    if len(items) > limit:
        head, tail = items[: limit - 2], items[-2:]
        items = head + [f"... ({len(items) - limit} more) ..."] + tail
    return "[" + ", ".join(items) + "]"
