"""The constructor convention of every callback, and copies of callbacks.

Every callback is ``Cls(log_dir, *, ...)``: ``log_dir`` first, like
``keras.callbacks.TensorBoard``, everything else by keyword, with the same names everywhere
(``x``, ``labels``, ``layers``, ``every``, ``name``, ``on_error`` ...). :func:`checked_init`
wraps each ``__init__`` so a misspelled or unknown keyword fails at construction with an
:class:`~keras_nnviz.errors.InvalidArgumentError` that names it, suggests the closest valid one
and lists them all (instead of a bare ``TypeError``, or a warning at train begin for keywords a
callback forwards to a compute function).

Copies: KerasTuner deep-copies every callback for each trial, and a callback may be pickled with
its configuration. A callback's state splits into its configuration (what ``__init__`` set) and
what one ``fit`` builds (locks, futures, compiled passes, the model); a copy holds only the
configuration, and the rest is rebuilt at the next train begin.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
from collections.abc import Callable, Collection
from typing import Any

from .. import validation
from ..errors import InvalidArgumentError, format_list
from ._inputs import as_log_dir

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def keyword_error(owner: str, bad: str, valid: Collection[str]) -> InvalidArgumentError:
    """The error for an unknown keyword ``bad`` of ``owner``, with the closest valid one."""
    close = difflib.get_close_matches(bad, list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return InvalidArgumentError(
        f"{owner}() got an unexpected keyword argument {bad!r}{hint} Valid keywords: "
        f"{format_list(sorted(valid), limit=40)}."
    )


# Keywords shared by several callbacks, checked at construction (not at train begin, when a
# wrong value would surface only after the first epoch). The one set of checks: validation.
_VALUE_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(
        (
            "batch_size",
            "max_samples",
            "bins",
            "max_channels",
            "max_heads",
            "max_filters",
            "steps",
            "max_pending",
            "max_panels",
            "ridgeline_rows",
        ),
        validation.positive_int,
    ),
    "threshold": validation.number,
    # A bool is an int to Python: reload_seconds=True must not read as one second.
    "reload_seconds": lambda name, v: validation.number(name, v, low=0.5, high=3600),
    "warn_fraction": lambda name, v: validation.number(name, v, low=0.0, high=1.0),
}


def check_call(cls: type, init: Callable, args: tuple, kwargs: dict) -> None:
    """Check ``cls(*args, **kwargs)`` against ``init``'s signature and ``cls.option_names``."""
    params = list(inspect.signature(init).parameters.values())[1:]  # without self
    positional = [p.name for p in params if p.kind in _POSITIONAL]
    owner = cls.__name__
    if args:
        as_log_dir(args[0], owner)  # x first (the 0.x order) says how to call instead
    if len(args) > len(positional):
        raise InvalidArgumentError(
            f"{owner} takes {' and '.join(positional) or 'no argument'} positionally and "
            f"everything else by keyword (like keras.callbacks.TensorBoard); received "
            f"{len(args)} positional arguments. Write e.g. {owner}('logs', x=x_val[:8], ...)."
        )
    named = {p.name for p in params if p.kind in _NAMED}
    valid = set(named)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        extra = cls.option_names(kwargs)
        if extra is None:  # the forwarded options cannot be listed: let the callee check them
            return
        valid |= set(extra)
    for key in kwargs:
        if key not in valid:
            raise keyword_error(owner, key, valid)
    for key, value in kwargs.items():
        check = _VALUE_CHECKS.get(key)
        if check is not None and value is not None:
            check(key, value)
    given = set(positional[: len(args)]) | set(kwargs)
    missing = [
        p.name
        for p in params
        if p.kind in _NAMED and p.default is inspect.Parameter.empty and p.name not in given
    ]
    if missing:
        raise InvalidArgumentError(
            f"{owner}() needs {', '.join(f'{m}=' for m in missing)} (received none); e.g. "
            f"{owner}('logs', {', '.join(f'{m}=...' for m in missing)})."
        )


def checked_init(init: Callable) -> Callable:
    """Wrap a callback's ``__init__``: check the call, then split configuration from runtime.

    Only the outermost ``__init__`` of an instance checks (a subclass forwarding to its parent
    passes what it was given, already checked).
    """

    @functools.wraps(init)
    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        outermost = type(self).__init__ is wrapper
        if outermost:
            check_call(type(self), init, args, kwargs)
        init(self, *args, **kwargs)
        if outermost:
            self._config_keys = tuple(k for k in self.__dict__ if k not in ("_model", "params"))
            self._init_runtime()

    return wrapper


# -- copies -----------------------------------------------------------------------------------


def copy_from_state(obj: Any, memo: dict, shared: Collection[str] = ()) -> Any:
    """``copy.deepcopy(obj)`` through its ``__getstate__`` / ``__setstate__`` (configuration
    only); the state entries named in ``shared`` (fixed inputs, a display) are the same
    objects in the copy, not copies."""
    new = type(obj).__new__(type(obj))
    memo[id(obj)] = new
    state = obj.__getstate__()
    new.__setstate__({k: v if k in shared else copy.deepcopy(v, memo) for k, v in state.items()})
    return new


def portable_sink(sink: Any) -> tuple[type, dict[str, Any]]:
    """A sink as (class, public settings): sinks hold locks and frames of the running fit."""
    return type(sink), sink.settings()


def rebuild_sink(spec: tuple[type, dict[str, Any]]) -> Any:
    """A fresh sink from :func:`portable_sink`'s spec."""
    cls, settings = spec
    try:
        return cls(**settings)
    except TypeError:  # settings that are not constructor arguments: set them on a default one
        sink = cls()
        sink.restore(settings)
        return sink
