"""``nnviz explore MODEL --data DATA``: explain any sample on demand in the browser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["cmd_explore"]


def cmd_explore(args: argparse.Namespace, load_model: Callable[..., Any]) -> int:
    """Explain any sample on demand in the browser (127.0.0.1 only), until Ctrl-C.

    ``load_model``: the command line's loader of saved models (``keras_nnviz.cli.load_model``).
    """
    import threading

    from ..report.explorer import Explorer
    from .data import load_data, parse_labels

    model = load_model(args.model, args.custom_objects)
    data = load_data(args.data, model, parse_labels(args.labels), args.raw_pixels, args.max_samples)
    explorer = Explorer(
        model,
        data.x,
        data.y,
        class_names=data.class_names,
        tokens=data.tokens,
        max_samples=args.max_samples,
    )
    print(f"nnviz explore: {explorer.serve(args.port)} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("nnviz explore: stopped")
    finally:
        explorer.close()
    return 0
