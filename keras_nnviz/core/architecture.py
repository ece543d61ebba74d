"""A model's architecture as data: layers, calls between them, nested models as groups.

:func:`architecture` reads the model (its functional graphs, nested models included) without
running or changing it, and returns plain JSON-able data that :func:`keras_nnviz.plot.architecture`
lays out and draws. Node ids are the layer paths of :func:`keras_nnviz.list_layers`, so a node can
be matched with activations, weights and the callbacks' pictures of the same layer.
"""

from __future__ import annotations

from typing import Any

import keras

from .. import _compat
from . import graph

__all__ = [
    "architecture",
]


def _shape_text(shape: tuple) -> str:
    if not shape:
        return "?"
    return (
        "("
        + ", ".join("N" if i == 0 else "?" if d is None else str(d) for i, d in enumerate(shape))
        + ")"
    )


def _params(layer: Any) -> int:
    """Parameter count; 0 for unbuilt layers and for plain operations (``x[:, 0]`` in a graph)."""
    if not isinstance(layer, keras.layers.Layer) or not layer.built:
        return 0
    try:
        return int(layer.count_params())
    except ValueError:
        return 0


def architecture(model: keras.Model) -> dict[str, Any]:
    """The layer graph of ``model``.

    Functional and Sequential models (and nested ones, as groups) give their real call graph:
    branches, merges, several inputs and outputs, a shared layer once with every call's edge.
    A subclassed model, which has no graph, gives its layers in order (``"graph": false``).

    Args:
        model: a built Keras model.

    Returns:
        ``{"name", "graph", "params", "nodes": [...], "edges": [[from, to], ...]}``; each node is
        ``{"id", "name", "type", "shape", "params", "group", "is_group", "is_input",
        "is_output"}`` where ``group`` is the id of the nested model holding it (None at the top).

    Example:
        >>> arch = nv.architecture(model)
        >>> [n["id"] for n in arch["nodes"] if n["is_group"]]
        ['mobilenetv2_1.00_64']
    """
    graph.check_model(model)
    nodes: list[dict[str, Any]] = []
    edges: list[list[str]] = []
    has_graph = _compat.functional_graph(model) is not None

    def node(layer, nid, group, is_input=False):
        is_group = isinstance(layer, keras.Model)
        nodes.append(
            {
                "id": nid,
                "name": layer.name,
                "type": "Input" if is_input else type(layer).__name__,
                "shape": _shape_text(graph.output_shape(layer)),
                "params": 0 if is_input else _params(layer),
                "group": group,
                "is_group": is_group,
                "is_input": is_input,
                "is_output": False,
            }
        )

    def visit(container, prefix: str, group: str | None) -> tuple[list[str], list[str]]:
        """Add the container's layers; return (its input node ids, its output node ids)."""
        fgraph = _compat.functional_graph(container)
        if fgraph is None:
            kids = [
                k
                for k in getattr(container, "layers", [])
                if not isinstance(k, keras.layers.InputLayer)
            ]
            ids = []
            for kid in kids:
                nid = prefix + kid.name
                node(kid, nid, group)
                if isinstance(kid, keras.Model):
                    visit(kid, nid + "/", nid)
                if ids:
                    edges.append([ids[-1], nid])
                ids.append(nid)
            return ids[:1], ids[-1:]
        ids: dict[int, str] = {}
        inputs, used_names = [], set()
        for op, producers in _compat.graph_links(fgraph):
            if id(op) not in ids:
                is_input = isinstance(op, keras.layers.InputLayer)
                name = op.name
                nid = prefix + name
                while nid in used_names:  # duplicate names in nested graphs stay apart
                    nid += "_"
                used_names.add(nid)
                ids[id(op)] = nid
                node(op, nid, group, is_input=is_input)
                if is_input:
                    inputs.append(nid)
                if isinstance(op, keras.Model):
                    visit(op, nid + "/", nid)
            for producer in producers:
                link = [ids[id(producer)], ids[id(op)]]
                if link[0] != link[1] and link not in edges:
                    edges.append(link)
        outputs = []
        for t in fgraph.outputs:
            producer = _compat.producing_layer(t)
            if producer is not None and id(producer) in ids:
                outputs.append(ids[id(producer)])
        return inputs, outputs

    _, outputs = visit(model, "", None)
    for n in nodes:
        n["is_output"] = n["group"] is None and n["id"] in outputs
    return {
        "name": model.name,
        "graph": has_graph,
        "params": _params(model),
        "nodes": nodes,
        "edges": edges,
    }
