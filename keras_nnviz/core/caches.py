"""The one registry of per-model caches, so :func:`keras_nnviz.clear_cache` reaches them all.

Every cache that remembers something about a model (compiled passes and weight readers,
explainers, attention sites, traced layer shapes) is a :func:`per_model` dictionary, held
weakly by model so caching never keeps a model alive; :func:`clear` empties one model's entry,
or everything, in every cache at once.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["clear", "names", "per_model"]

_CACHES: dict[str, weakref.WeakKeyDictionary] = {}
_LOCK = threading.RLock()


def per_model(name: str) -> weakref.WeakKeyDictionary:
    """The cache called ``name`` (created on first use): a weak dictionary keyed by model.

    Example:
        >>> _SITES = per_model("attention sites")
    """
    with _LOCK:
        return _CACHES.setdefault(name, weakref.WeakKeyDictionary())


def names() -> list[str]:
    """The registered caches' names."""
    with _LOCK:
        return sorted(_CACHES)


def clear(model: Any = None) -> None:
    """Forget what every cache holds for ``model`` (everything when None)."""
    with _LOCK:
        for cache in _CACHES.values():
            if model is None:
                cache.clear()
            else:
                cache.pop(model, None)
