"""Write the example notebooks (outputs cleared) from the cell lists below.

Run: ``python examples/make_notebooks.py``. Edit cells here, not in the .ipynb files, so the
notebooks stay reviewable as code. ``tests/test_notebooks.py`` executes every notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
REPO = "keras-nnviz/keras_nnviz"  # GitHub location assumed for the Colab badge and install cell


def badge(name: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO}/blob/main/examples/{name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


INSTALL = f"""# Install keras_nnviz when it is not installed yet (Colab); a no-op elsewhere.
import importlib.util

if importlib.util.find_spec("keras_nnviz") is None:
    %pip install -q "keras-nnviz @ git+https://github.com/{REPO}"
"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["05_weights_activations_embeddings.ipynb"] = [
    (
        "md",
        """# 05 · Weights, activations, recurrent states and embeddings

{badge}

Look inside a small CNN trained on scikit-learn's bundled digits (no download): its filters and
weight statistics, the feature maps a digit produces, which digits excite a channel, the
embedding the penultimate layer learns, and an LSTM's hidden states as it reads a digit row by
row. Runs offline on a CPU in about a minute.""",
    ),
    ("code", INSTALL),
    (
        "code",
        """%matplotlib inline
import keras
import numpy as np

import keras_nnviz as nv

model, data = nv.datasets.trained_digits_cnn(epochs=6)
x, y = data.test.x, data.test.y
print("test accuracy", round(model.evaluate(x, y, verbose=0)[1], 3))
nv.list_layers(model)""",
    ),
    (
        "md",
        """## Weights
`nv.weight_stats` gives one row per weight tensor. The *stable rank* (‖W‖²_F / ‖W‖²_2) counts
how many directions a matrix really uses.""",
    ),
    (
        "code",
        """for row in nv.weight_stats(model):
    print(f"{row['name']:22s} {str(row['shape']):16s} std={row['std']:.3f} "
          f"zeros={row['zeros']:.2f} spectral={row['spectral_norm']:.2f} "
          f"stable_rank={row['stable_rank']:.1f}")""",
    ),
    ("code", """nv.plot.filter_grid(nv.conv_filters(model, "conv1"), title="conv1 filters")"""),
    (
        "code",
        """nv.plot.weight_matrix(nv.get_weights(model)["predictions/kernel"],
                      title="output layer weights (dense unit × class)")""",
    ),
    ("code", """nv.plot.histograms(nv.get_weights(model, trainable_only=True))"""),
    (
        "md",
        """## Activations
One compiled forward pass returns any set of layers; `feature_maps` shows every channel of one
sample on one colour scale.""",
    ),
    (
        "code",
        """acts = nv.get_activations(model, x, ["conv1", "conv2", "dense"])
print({k: v.shape for k, v in acts.items()})
nv.plot.feature_maps(acts["conv2"], sample=0, title=f"conv2 feature maps of a '{y[0]}'")""",
    ),
    (
        "md",
        """Which digits excite a channel most? Rank the test set by a channel's mean activation.""",
    ),
    (
        "code",
        """channel = 5
score = nv.get_channel(model, x, "conv2", channel).mean(axis=(1, 2))
top = np.argsort(score)[::-1][:8]
print("labels of the 8 strongest:", y[top])
nv.plot.image_grid(x[top], titles=[f"{y[i]}: {score[i]:.2f}" for i in top], ncols=8,
                  title=f"test digits that excite conv2 channel {channel} most")""",
    ),
    (
        "md",
        """## Embeddings
Project the penultimate layer (`dense`, 32 units) to 2-D. PCA is exact and instant; t-SNE and
UMAP (`method="umap"`, slower on first use) separate classes more.""",
    ),
    (
        "code",
        """xy = nv.project(acts["dense"], method="pca")
nv.plot.embedding(xy, labels=y, class_names=data.class_names, title="dense layer, PCA")""",
    ),
    (
        "code",
        """xy = nv.project(acts["dense"], method="tsne")
nv.plot.embedding(xy, labels=y, class_names=data.class_names, title="dense layer, t-SNE")""",
    ),
    (
        "md",
        """## Recurrent states
An LSTM reads each digit one pixel row at a time (8 steps × 8 pixels). `get_rnn_states` returns
the hidden state at every step even though the layer only returns its last state.""",
    ),
    (
        "code",
        """keras.utils.set_random_seed(0)
rnn = keras.Sequential([
    keras.Input((8, 8)),
    keras.layers.LSTM(24, name="lstm"),
    keras.layers.Dense(10, activation="softmax", name="predictions"),
])
rnn.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
rnn.fit(data.train.x[..., 0], data.train.y, epochs=15, verbose=0)
print("LSTM test accuracy", round(rnn.evaluate(x[..., 0], y, verbose=0)[1], 3))
states = nv.get_rnn_states(rnn, x[..., 0], "lstm")
states.shape""",
    ),
    (
        "code",
        """nv.plot.rnn_states(states[0], tokens=[f"row {i}" for i in range(8)],
                  title=f"LSTM hidden states while reading a '{y[0]}'")""",
    ),
    (
        "code",
        """traces = {f"unit {u}": states[0, :, u] for u in range(3)}
nv.plot.neuron_trace(traces, xlabel="pixel row", title="three LSTM units over time")""",
    ),
]


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    for kind, source in cells:
        source = source.replace("{badge}", badge(name))
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
