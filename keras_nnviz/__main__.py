"""``python -m keras_nnviz`` runs the ``nnviz`` command line."""

import sys

from .cli import main

sys.exit(main())
