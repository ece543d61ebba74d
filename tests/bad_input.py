"""The checks every bad-input table runs (tests/test_bad_input*.py, tests/cli/test_bad_files.py).

A row of a table is a call that must fail helpfully: :func:`assert_named_error` for the Python
API (an :class:`~keras_nnviz.errors.NNVizError` of the expected kind, naming the phrase, with no
TensorFlow staging stack in front) and :func:`assert_cli_exits_2` for the command line (exit
code 2, one line on stderr naming the phrase, no traceback or "internal error").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from keras_nnviz import cli
from keras_nnviz.errors import NNVizError


def assert_named_error(call: Callable[[], object], error: type, phrase: str) -> NNVizError:
    """``call()`` raises an ``error`` (an NNVizError) whose message holds ``phrase``."""
    with pytest.raises(NNVizError) as info:
        call()
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert phrase.lower() in message.lower(), message
    assert "in user code" not in message  # no TensorFlow staging stack in front
    return info.value


def assert_cli_exits_2(argv: Sequence[str], capsys, phrase: str, one_line: bool = True) -> str:
    """``nnviz ARGV`` exits with code 2 and says ``phrase`` in one stderr line."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert phrase.lower() in err.lower(), err
    if one_line:
        assert len(err.strip().splitlines()) == 1, err
    return err
