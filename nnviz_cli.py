"""Launcher of the ``nnviz`` console script.

TensorFlow writes start-up chatter (oneDNN notices, absl pre-init warnings) straight to file
descriptor 2 while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says. A command-line tool must
keep stderr for its own messages ("one clear line"), so the launcher silences fd 2 while
keras_nnviz (and with it TensorFlow) is imported and devices are probed, then hands over to
``keras_nnviz.cli.main``.
It lives outside the package because importing anything inside it imports TensorFlow first.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras and probe devices with fd 2 silenced (not under --debug).

    Also called by ``keras_nnviz/__init__.py`` when it is imported by ``python -m keras_nnviz``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "--debug" in sys.argv[1:] or "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing logs (e.g. cuInit) go quiet too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main() -> int:
    """Import keras_nnviz quietly (unless --debug) and run the CLI."""
    import_tensorflow_quietly()
    from keras_nnviz.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
