"""The core every family is a client of.

- :mod:`.compiled`: :class:`~.compiled.CompiledPass`, the one compiled function over a model
  (the only place keras_nnviz builds a ``tf.function``), its cache registry and
  :func:`~.compiled.clear_cache`.
- :mod:`.architecture`: the model's layers and calls as JSON-able data (``nv.architecture``),
  which :func:`keras_nnviz.plot.architecture` draws.
- :mod:`.model`: what kind of model this is and which layers a method uses by default, the one
  answer the functions, callbacks, report and CLI share.
"""

__all__: list[str] = []
