"""The core every family is a client of.

- :mod:`.compiled`: :class:`~.compiled.CompiledPass`, the one compiled function over a model
  (the only place keras_nnviz builds a ``tf.function``), its cache registry and
  :func:`~.compiled.clear_cache`.
- :mod:`.model`: what kind of model this is and which layers a method uses by default, the one
  answer the functions, callbacks, report and CLI share.
"""
