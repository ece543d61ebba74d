"""The core every family is a client of.

- :mod:`.graph`: layer paths through nested models, their shapes, and :func:`~.graph.forward`,
  a run of the model with hooks on any layer (the compiled pass traces it).
- :mod:`.inputs`: user data (numpy, tensors, dicts, ``tf.data``) into validated batches.
- :mod:`.loop`: the one batch loop over them (:class:`~.loop.BatchLoop`: offsets, progress bar,
  errors of a compiled call, empty input, the non-finite warning).
- :mod:`.distribute`: the loop under a ``tf.distribute`` strategy (``strategy=``,
  ``nv.distribute``): each batch split across the replicas, joined in input order.
- :mod:`.targets`: the one score language, ``target``/``output`` resolved once and turned into
  one score per sample inside the trace (users see :mod:`keras_nnviz.targets`), and the
  predicted class outside it.
- :mod:`.towers`: which tower of a multi-tower model (CLIP: image and text) each input feeds,
  and the token that means "no token" (the baseline of token attributions).
- :mod:`.compiled`: :class:`~.compiled.CompiledPass`, the one compiled function over a model
  (the only place keras_nnviz builds a ``tf.function``), its cache registry and
  :func:`~.compiled.clear_cache`.
- :mod:`.architecture`: the model's layers and calls as JSON-able data (``nv.architecture``),
  which :func:`keras_nnviz.plot.architecture` draws.
- :mod:`.model`: what kind of model this is (image, text: token input, embedding, padding mask)
  and which layers a method uses by default, the one answer the functions, callbacks, report
  and CLI share.
"""

__all__: list[str] = []
