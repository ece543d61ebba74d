"""Write the example notebooks from the cell lists below, executed, with their outputs.

Run: ``python examples/make_notebooks.py [NAME.ipynb ...]`` (a few minutes on a CPU; add
``--no-execute`` for the sources only). Edit cells here, not in the .ipynb files, so the
notebooks stay reviewable as code. Outputs are stored so GitHub and Colab previews show the
pictures; they are compacted (256-colour PNGs at most 900 px wide, GIFs as their last frame) to
keep every notebook under 1.5 MB. ``tests/test_notebooks.py`` executes every notebook again and
checks each cell shows the same kinds of output as stored.
"""

from __future__ import annotations

import re
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

NOTEBOOKS["01_callbacks_quickstart.ipynb"] = [
    (
        "md",
        """# 01 · Quick start: watch a CNN learn with callbacks

{badge}

Train a small CNN on scikit-learn's bundled 8×8 digits (no download) with keras_nnviz's
callbacks attached. Every epoch they take a picture of the model — weight histograms, feature
maps, Grad-CAM heatmaps, the learned embedding, gradient norms — and write it as a PNG frame, an
animated GIF per picture and a TensorBoard summary. When training ends, one self-contained
`report.html` collects everything. Runs offline on a CPU in well under a minute.""",
    ),
    ("code", INSTALL),
    (
        "code",
        """%matplotlib inline
import shutil
from pathlib import Path

import keras
from IPython.display import Image, display

import keras_nnviz as nv

keras.utils.set_random_seed(0)
data = nv.datasets.digits()  # 1438 train / 359 test images, 8×8×1, values in [0, 1]
x_val, y_val = data.test.x, data.test.y
model = nv.datasets.digits_cnn()  # compiled, untrained

log_dir = Path("nnviz_logs/01_quickstart")
shutil.rmtree(log_dir, ignore_errors=True)  # start clean: no frames left from an earlier run
nv.list_layers(model)""",
    ),
    (
        "md",
        """## Attach the callbacks

Each callback gets the same `log_dir`, first, like `keras.callbacks.TensorBoard`; everything else
is a keyword. Those that look at data get a few *fixed* validation samples (`x=`), shown again
every epoch, so that frames of different epochs are comparable:

| callback | what it shows |
|---|---|
| `WeightHistograms` | the distribution of every weight tensor |
| `ActivationMaps(log_dir, x=x_val[:1])` | the feature maps of one digit in `conv1` and `conv2` |
| `GradCAM(log_dir, x=x_val[:8])` | where the model looks for the class it predicts, on 8 digits |
| `EmbeddingProjection` | the 32-d `dense` layer for 300 digits, PCA to 2-D, coloured by label |
| `GradientFlow` | the gradient norm of each layer and how much each layer's weights move |
| `Report` | `report.html`: live (rewritten every epoch), self-contained at the end |

Keras's own `keras.callbacks.TensorBoard` writes its loss/accuracy curves into the same folder,
so TensorBoard shows both side by side. The drawing and file writing happen on a background
thread; training only waits for the (compiled) computations.""",
    ),
    (
        "code",
        """gradient_flow = nv.callbacks.GradientFlow(log_dir, x=x_val[:64], y=y_val[:64])
report = nv.callbacks.Report(log_dir)
callbacks = [
    nv.callbacks.WeightHistograms(log_dir),
    nv.callbacks.ActivationMaps(log_dir, x=x_val[:1], layers=["conv1", "conv2"]),
    nv.callbacks.GradCAM(log_dir, x=x_val[:8], layer="conv2"),
    nv.callbacks.EmbeddingProjection(
        log_dir, x=x_val[:300], labels=y_val[:300], layer="dense", class_names=data.class_names
    ),
    gradient_flow,
    report,
    keras.callbacks.TensorBoard(log_dir),
]
# The callbacks share a budget of 5 % of the training time by default, which on a fit this
# short draws little more than the start and the end; budget(None) draws every epoch here.
with nv.callbacks.budget(None):
    history = model.fit(
        data.train.x,
        data.train.y,
        validation_data=(x_val, y_val),
        epochs=5,
        batch_size=32,
        verbose=2,
        callbacks=callbacks,
    )""",
    ),
    (
        "md",
        """## What was written

One folder per callback, one sub-folder per picture. `epoch_0000.png` is the untrained model
(a snapshot taken before the first epoch), `epoch_0005.png` the model after five epochs, and
`animation.gif` plays them all in order. Some callbacks add a summary figure at the end
(`ridgeline.png`, `summary.png`, `grad_norm.png` ...). `train/` and `validation/` hold Keras's
TensorBoard event files, `train/nnviz/` ours (a run of its own, so TensorBoard keeps showing
Keras's curves live; the picture after epoch e sits at Keras's step for epoch e).""",
    ),
    (
        "code",
        """for folder in sorted(p for p in log_dir.glob("*/*") if p.is_dir()):
    frames = sorted(f.name for f in folder.glob("epoch_*.png"))
    if not frames:  # train/ and train/nnviz: TensorBoard runs (Keras's and ours), no frames
        continue
    others = sorted(f.name for f in folder.iterdir() if not f.name.startswith("epoch_"))
    where = str(folder.relative_to(log_dir))
    print(f"{where:28s} {frames[0]} ... {frames[-1]} + {', '.join(others)}")
print("report:", report.path)""",
    ),
    (
        "md",
        """## Grad-CAM before and after training

Each tile is one of the eight fixed validation digits with the Grad-CAM map of the class the
model predicted *at that moment* blended over it (0–1, shared colour scale). Before training
(epoch 0) the prediction is a guess and the map mostly traces the ink: ReLU feature maps of
random filters fire wherever there are strokes. After five epochs (about 98 % validation
accuracy) the maps are sharper and differ from digit to digit: they mark the parts of the
strokes that raise the score of the class the model now predicts correctly.""",
    ),
    (
        "code",
        """display(Image(filename=log_dir / "grad_cam/maps/epoch_0000.png", width=420))
display(Image(filename=log_dir / "grad_cam/maps/epoch_0005.png", width=420))""",
    ),
    (
        "md",
        """## The animations

The embedding GIF is the clearest picture of learning. Before training, similar-looking
digits already land near each other (random features still reflect the pixels), but the classes
overlap; epoch by epoch they pull apart into their own clusters, because the `dense` layer learns
features that make the classes easy to separate for the last layer. (PCA is used because it is
deterministic: the animation shows the embedding moving, not the layout algorithm.)""",
    ),
    ("code", """Image(filename=log_dir / "embedding_projection/dense/animation.gif")"""),
    (
        "md",
        """The feature maps of 16 `conv2` channels for one digit, epoch by epoch: as the filters
learn, the channels change which parts of the strokes they respond to.""",
    ),
    ("code", """Image(filename=log_dir / "activation_maps/conv2/animation.gif")"""),
    (
        "md",
        """## Weights and gradients

The ridgeline shows, for each kernel, its weight distribution at each snapshot (top: start,
bottom: end): training widens the distributions from their initialization.""",
    ),
    ("code", """Image(filename=log_dir / "weight_histograms/overview/ridgeline.png")"""),
    (
        "md",
        """`GradientFlow` keeps its numbers in `.history`. The update ratio ‖ΔW‖ / ‖W‖ says how much
each layer changed during an epoch relative to its size: large in the first epoch, then
shrinking as the loss flattens. Gradient norms that fall by decades towards the input would mean
vanishing gradients; here all layers learn.""",
    ),
    (
        "code",
        """flow = gradient_flow.history
nv.plot.layer_epoch_heatmap(
    {layer: values[1:] for layer, values in flow["update_ratio"].items()},
    epochs=flow["epoch"][1:],
    label="update ratio ‖ΔW‖/‖W‖",
    title="update ratio per layer and epoch",
)""",
    ),
    (
        "md",
        """## The report

`report.html` is one file with every picture embedded (no network needed, it can be mailed):
training curves, the layer table, and a section per callback with an epoch slider that moves
every picture at once. Open it in a browser (in Colab: the file browser on the left, right-click,
*Download*).

`nv.build_report(log_dir)` rebuilds the page from what the callbacks recorded in
`log_dir/nnviz_manifest.json` — e.g. after training more epochs into the same folder, or to write
a smaller copy that links the PNG files instead of embedding them.""",
    ),
    (
        "code",
        """print(f"{report.path}  {report.path.stat().st_size / 1e6:.1f} MB")
linked = nv.build_report(log_dir, model=model, out=log_dir / "report_linked.html", embed=False)
print(f"{linked}  {linked.stat().st_size / 1e6:.2f} MB (pictures linked, keep it beside them)")""",
    ),
    (
        "md",
        """## TensorBoard

The same pictures are in TensorBoard, next to Keras's curves: *Images* (one slider per
picture), *Histograms* (every weight), *Scalars* (loss, accuracy and the gradient-flow numbers)
and the *Projector* (the embedding in 3-D, with digit thumbnails):

```bash
tensorboard --logdir nnviz_logs/01_quickstart
```

In Jupyter or Colab: `%load_ext tensorboard`, then
`%tensorboard --logdir nnviz_logs/01_quickstart`.""",
    ),
]

NOTEBOOKS["02_gradcam_saliency.ipynb"] = [
    (
        "md",
        """# 02 · Grad-CAM, saliency and integrated gradients, checked against a known answer

{badge}

Which pixels does a prediction depend on? Five attribution methods on a digits CNN first; then
a synthetic task where the right answer is known — the class is decided by one small patch at a
random position, so a map that really explains the model must light up on that patch — measured
with the pointing game; and a **nested** model (a conv "base" model used as a layer inside an
outer model with a new head, the shape of every transfer-learning model), explained at a layer
inside the base by its path `"base/conv3"`. Runs offline on a CPU in well under a minute.""",
    ),
    ("code", INSTALL),
    (
        "code",
        """%matplotlib inline
import keras
import numpy as np
from matplotlib.figure import Figure

import keras_nnviz as nv

model, data = nv.datasets.trained_digits_cnn(epochs=6)
x, y = data.test.x[:8], data.test.y[:8]
pred = model.predict(x, verbose=0).argmax(axis=1)
print("test accuracy", round(model.evaluate(data.test.x, data.test.y, verbose=0)[1], 3))
print("labels     ", y)
print("predictions", pred)""",
    ),
    (
        "md",
        """## Five methods on the digits CNN

* **Grad-CAM** (`nv.grad_cam`): the feature maps of a conv layer, weighted by how much the class
  score grows with each channel (its mean gradient). Class-specific but only as sharp as the
  layer; `conv2` keeps the full 8×8 resolution here.
* **Grad-CAM++** (`nv.grad_cam_plus_plus`): per-position weights, better when a class shows up
  in several places.
* **Saliency** (`nv.saliency`): |∂ score / ∂ pixel|, sharp but noisy.
* **SmoothGrad** (`nv.saliency(..., smooth_samples=n)`): saliency averaged over `n` noisy copies
  of the input, which removes much of the noise.
* **Integrated gradients** (`nv.integrated_gradients`): the gradient averaged along the straight
  path from a black image to the input, times (input − black).

All explain the predicted class by default (`target=None`) and differentiate the logit behind
the softmax, not the saturated probability. Each returns one map per image, in [0, 1].""",
    ),
    (
        "code",
        """maps = {
    "Grad-CAM": nv.grad_cam(model, x, layer="conv2"),
    "Grad-CAM++": nv.grad_cam_plus_plus(model, x, layer="conv2"),
    "saliency": nv.saliency(model, x),
    "SmoothGrad": nv.saliency(model, x, smooth_samples=32, noise=0.15, seed=0, progress=False),
    "integrated gradients": nv.integrated_gradients(model, x, steps=32, progress=False),
}
{name: m.shape for name, m in maps.items()}""",
    ),
    (
        "md",
        """A small helper draws the input and every method's map over it, one row per image (the
white outline, when given, marks where the answer is).""",
    ),
    (
        "code",
        """def compare(images, maps, row_titles, masks=None, n=4):
    fig = Figure(figsize=(1.8 * (len(maps) + 1), 1.8 * n + 0.4), layout="constrained")
    axes = fig.subplots(n, len(maps) + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i, ..., 0], cmap="gray")
        axes[i, 0].set_ylabel(row_titles[i], fontsize=9)
        for j, (name, m) in enumerate(maps.items(), start=1):
            nv.plot.heatmap_overlay(images[i], m[i], ax=axes[i, j], colorbar=False)
            axes[0, j].set_title(name, fontsize=9)
        if masks is not None:
            for ax in axes[i]:
                ax.contour(masks[i], levels=[0.5], colors="white", linewidths=1)
    axes[0, 0].set_title("input", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


compare(x, maps, [f"label {t}, predicted {p}" for t, p in zip(y, pred)])""",
    ),
    (
        "md",
        """The library's own view of one method: `nv.plot.attribution_grid` shows the image, the map
and the overlay on one colour scale.""",
    ),
    (
        "code",
        """nv.plot.attribution_grid(
    x, maps["Grad-CAM"], labels=pred, class_names=data.class_names, method="Grad-CAM",
    max_samples=3,
)""",
    ),
    (
        "md",
        """### Signed integrated gradients add up to the score

With `signed=True` integrated gradients keep their sign: red pixels pushed the class score up,
blue ones pushed it down. With the black baseline a black pixel gets exactly 0 — the method
explains the ink that is there, not ink that is missing. With `normalize=False` the
attributions are raw and sum to logit(image) − logit(black image) (*completeness*, up to the
error of the 64-step Riemann sum). The cell checks it by computing the logit from the `dense`
layer and the last layer's weights.""",
    ),
    (
        "code",
        """ig = nv.integrated_gradients(model, x[:1], steps=64, signed=True, normalize=False)
features = nv.get_activation(model, np.stack([x[0], np.zeros_like(x[0])]), "dense")
kernel, bias = model.get_layer("predictions").get_weights()
logits = features @ kernel + bias
print(f"sum of attributions {ig[0].sum():.3f}")
print(f"logit(image) - logit(black) {logits[0, pred[0]] - logits[1, pred[0]]:.3f}")
nv.plot.signed_attribution(ig[0], image=x[0], title=f"integrated gradients, class {pred[0]}")""",
    ),
    (
        "md",
        """### Sanity check: do the maps depend on the model?

A map could look plausible simply because it traces the digit's strokes, whatever the model
learned. `nv.metrics.randomization_similarity` compares the maps of the trained model with
those of a copy whose weights are re-initialized (Adebayo et al., 2018): a method that explains
*the model* gives different maps (rank correlation near 0).

Grad-CAM and saliency pass: their maps change completely. Integrated gradients stay highly
correlated: they multiply the gradient by (input − black), so on these small digits most of the
map is the ink itself, and a random model gets a similar map. Read an integrated-gradients map
as "which of the ink mattered", not as evidence that the model looks at the digit's shape.""",
    ),
    (
        "code",
        """for method, options in [
    ("grad_cam", {"layer": "conv2"}),
    ("saliency", {}),
    ("integrated_gradients", {"steps": 16}),
]:
    rho = nv.metrics.randomization_similarity(
        model, data.test.x[:32], method=method, **options
    )
    print(f"{method:22s} rank correlation trained vs random: {np.nanmean(rho):.2f}")""",
    ),
    (
        "md",
        """## A task where the right answer is known

`nv.datasets.patch_localization` draws 32×32 noise images with one bright 6×6 patch at a random
position: a filled square is class 0, a plus sign class 1. The patch is the only signal, and
`masks` marks where it is. So whatever a trained classifier uses, it can only be on the patch:
a trustworthy map must peak inside the mask.""",
    ),
    (
        "code",
        """keras.utils.set_random_seed(0)
patches = nv.datasets.patch_localization(n=640, size=32, patch=6, seed=0)
x_train, y_train = patches.x[:512], patches.y[:512]
x_test, y_test, masks = patches.x[512:], patches.y[512:], patches.masks[512:]
nv.plot.image_grid(x_test[:8], titles=[["square", "plus"][c] for c in y_test[:8]], ncols=8)""",
    ),
    (
        "md",
        """### A nested, transfer-learning-shaped model

Built like a `keras.applications` model with a new head: the convolutions live in a Functional
model named `base`, and the outer model calls `base` as a single layer, then adds global average
pooling and a new classifier. (With a real pretrained base you would freeze it and train the
head; here the whole model trains from scratch in a few seconds.)

Layers inside `base` are addressed by **path**: `nv.list_layers` lists `base/conv1` ...
`base/conv3`. The usual trick of building `keras.Model(model.inputs, inner_layer.output)` fails
for a layer inside a nested model ("not connected to inputs": that tensor belongs to the base's
own graph); keras_nnviz reaches inside without rebuilding, cloning or changing the model.""",
    ),
    (
        "code",
        """layers = keras.layers
image = keras.Input((32, 32, 1), name="image")
h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
h = layers.MaxPooling2D(name="pool1")(h)
h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
h = layers.MaxPooling2D(name="pool2")(h)
h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
base = keras.Model(image, h, name="base")

inputs = keras.Input((32, 32, 1), name="pixels")
h = base(inputs)  # the whole base model is one layer of the outer model
h = layers.GlobalAveragePooling2D(name="gap")(h)
outputs = layers.Dense(2, activation="softmax", name="head")(h)
patch_model = keras.Model(inputs, outputs, name="patch_classifier")
patch_model.compile(
    keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
)
patch_model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
print("test accuracy", round(patch_model.evaluate(x_test, y_test, verbose=0)[1], 3))
nv.list_layers(patch_model)""",
    ),
    (
        "code",
        """patch_maps = {
    "Grad-CAM": nv.grad_cam(patch_model, x_test, layer="base/conv3"),
    "Grad-CAM++": nv.grad_cam_plus_plus(patch_model, x_test, layer="base/conv3"),
    "saliency": nv.saliency(patch_model, x_test),
    "SmoothGrad": nv.saliency(
        patch_model, x_test, smooth_samples=16, noise=0.15, seed=0, progress=False
    ),
    "integrated gradients": nv.integrated_gradients(
        patch_model, x_test, steps=32, progress=False
    ),
}
patch_pred = patch_model.predict(x_test, verbose=0).argmax(axis=1)
compare(x_test, patch_maps, [["square", "plus"][c] for c in patch_pred], masks=masks)""",
    ),
    (
        "md",
        """### The pointing game

`nv.metrics.pointing_game(maps, masks).rate` is the share of images whose map maximum falls inside
the mask (Zhang et al., 2016); `tolerance=2` also accepts maxima within 2 pixels of it. Chance
level is the patch's share of the image, 36 / 1024 ≈ 3.5 %.""",
    ),
    (
        "code",
        """for name, m in patch_maps.items():
    exact = nv.metrics.pointing_game(m, masks).rate
    near = nv.metrics.pointing_game(m, masks, tolerance=2).rate
    print(f"{name:22s} hit rate {exact:5.0%}   within 2 px {near:5.0%}")""",
    ),
    (
        "md",
        """Every method points far above chance, so all of them see that the decision is made at the
patch. Grad-CAM and integrated gradients hit the patch almost every time. Plain saliency often
peaks on a background pixel right *next to* the patch: the convolutions detect the patch's
edges, so changing a pixel just outside it changes the score as well — with a 2-pixel tolerance
the hit rate jumps. SmoothGrad helps a little.

### Which layer of the base?

Grad-CAM can use any conv layer inside the base, by path. Deeper layers know more about the
class but are coarser (`conv3` sees the image at 8×8, `conv1` at 32×32), so the maps get sharper
towards the input. At `conv1` the peak often sits on the patch's *border*, just outside the
mask: first-layer filters are edge detectors, and the edges are what they pass on. The
tolerant pointing game shows that all three layers still point at the patch.""",
    ),
    (
        "code",
        """by_layer = {
    path: nv.grad_cam(patch_model, x_test, layer=path)
    for path in ["base/conv1", "base/conv2", "base/conv3"]
}
for path, m in by_layer.items():
    exact = nv.metrics.pointing_game(m, masks).rate
    near = nv.metrics.pointing_game(m, masks, tolerance=2).rate
    print(f"{path}: hit rate {exact:5.0%}   within 2 px {near:5.0%}")
compare(x_test, by_layer, [["square", "plus"][c] for c in patch_pred], masks=masks, n=3)""",
    ),
    (
        "md",
        """For repeated use, the class form compiles once and is reused for every batch and target:
`explain = nv.GradCAM(patch_model, layer="base/conv3")`, then `explain(x, target=...)`.
Asking for the class the model did *not* predict gives an almost empty map — there is no
evidence for it anywhere in the image.""",
    ),
    (
        "code",
        """explain = nv.GradCAM(patch_model, layer="base/conv3")
other = explain(x_test[:4], target=1 - patch_pred[:4], normalize=False)
own = explain(x_test[:4], target=patch_pred[:4], normalize=False)
print("largest value, predicted class:", own.max(axis=(1, 2)).round(3))
print("largest value, other class:    ", other.max(axis=(1, 2)).round(3))""",
    ),
    (
        "md",
        """### Explaining a unit, and attributing to a layer

`target=` is one score language for every method: a class, a callable on the outputs, or an
objective from `nv.objectives` — a channel or a neuron of any layer. So Grad-CAM, integrated
gradients or guided backprop can explain *what a unit reacts to* in each image. `layer=` on a
gradient method attributes to that layer's output instead of the pixels (per location at a
convolution; per token at an `Embedding`, the default for text models). Any method is also
reachable by name with `nv.explain(model, x, method=...)`.""",
    ),
    (
        "code",
        """unit = nv.objectives.channel("base/conv3", 0)
unit_maps = {
    "Grad-CAM of conv3 ch 0 at conv2": nv.grad_cam(patch_model, x_test, unit, layer="base/conv2"),
    "integrated gradients of conv3 ch 0": nv.explain(
        patch_model, x_test, unit, method="integrated_gradients", steps=16, progress=False
    ),
    "saliency at conv1 (per location)": nv.saliency(patch_model, x_test, layer="base/conv1"),
}
compare(x_test, unit_maps, [["square", "plus"][c] for c in patch_pred], masks=masks, n=3)""",
    ),
]

NOTEBOOKS["03_attention_maps.ipynb"] = [
    (
        "md",
        """# 03 · Attention maps: per-head heatmaps, rollout, and a task that needs attention

{badge}

Train a one-layer transformer on a synthetic task that can only be solved by attending to one
token, read its attention weights with `nv.get_attention`, draw every head, roll attention out,
and check that it lands where it must. Then the same tools on a small vision transformer for the
8×8 digits. Offline, CPU, well under a minute.""",
    ),
    ("code", INSTALL),
    (
        "code",
        """%matplotlib inline
import keras
import numpy as np
from matplotlib.figure import Figure

import keras_nnviz as nv

keras.utils.set_random_seed(0)
data = nv.datasets.flagged_value(2048 + 256, length=12, values=4, seed=0)
train, test = slice(0, 2048), slice(2048, None)
x_test, y_test = data.x[test], data.y[test]
tokens, flagged = data.tokens[test], data.position[test]
for i in range(3):
    print(" ".join(f"{t:>5s}" for t in tokens[i]), "  -> label", y_test[i])""",
    ),
    (
        "md",
        """## The flagged-value task

Each sequence is a `[CLS]` token followed by 11 tokens carrying a random value 0–3; exactly one
of them is *flagged* (printed `*v`). The label is the flagged token's value. Every other token
carries a value drawn from the same four, so averaging over the tokens tells almost nothing
about the label: a model that classifies from its `[CLS]` token **must select the flagged token**
with its attention. That gives a right answer to check the attention maps against.

`nv.datasets.flagged_value_transformer` is a one-layer transformer (linear embedding →
`MultiHeadAttention` with 2 heads → residual + LayerNorm → `[CLS]` → dense head).""",
    ),
    (
        "code",
        """model = nv.datasets.flagged_value_transformer(length=12, values=4, heads=2)
before = nv.get_attention(model, x_test)  # untrained, to compare with later
model.fit(data.x[train], data.y[train], epochs=3, batch_size=32, verbose=2)
print("test accuracy", round(model.evaluate(x_test, y_test, verbose=0)[1], 3))
print("attention layers:", nv.attention.attention_layers(model))""",
    ),
    (
        "md",
        """## Reading the attention weights

`nv.get_attention(model, x)` finds every attention layer (also inside nested models and custom
layers) and returns the softmax weights the model used, `{path: (N, heads, queries, keys)}`, in
one compiled forward pass per batch — the model is not changed or rebuilt.""",
    ),
    (
        "code",
        """att = nv.get_attention(model, x_test)
{path: a.shape for path, a in att.items()}""",
    ),
    (
        "md",
        """### Every head of one sequence

Rows are queries, columns keys; row `[CLS]` is what the classifier reads from. The flagged
token's column should be bright in that row for at least one head.""",
    ),
    (
        "code",
        """sample = 0
fig = Figure(figsize=(13, 5), layout="constrained")
axes = fig.subplots(1, 2)
for head, ax in enumerate(axes):
    nv.plot.attention_matrix(
        att["attention"][sample], tokens=tokens[sample], head=head, ax=ax, annotate=False,
        title=f"head {head}",
    )
fig.suptitle(f"attention of sample {sample}: flagged token {tokens[sample][flagged[sample]]}")
fig""",
    ),
    (
        "md",
        """`nv.plot.attention_model_view` draws the layer × head grid at once (bertviz's
"model view", here one layer), and `nv.plot.attention_text` shades the tokens by the weight
`[CLS]` gives them, averaged over heads.""",
    ),
    (
        "code",
        """nv.plot.attention_model_view(att, sample=1, tokens=tokens[1])""",
    ),
    (
        "code",
        """nv.plot.attention_text(att["attention"][2].mean(axis=0), tokens=tokens[2], query=0)""",
    ),
    (
        "md",
        """### Does attention concentrate on the flagged position?

Over all 256 test sequences: the weight `[CLS]` gives the flagged token, per head, before and
after training. Uniform attention would give 1/12 ≈ 0.08 (the dashed line). Before training both
heads are close to uniform; after training at least one head puts most of its weight on the
flagged token, and the token `[CLS]` attends to most is the flagged one in (nearly) every
sequence.""",
    ),
    (
        "code",
        """rows = np.arange(len(x_test))
on_flag_before = before["attention"][rows, :, 0, flagged].mean(axis=0)
on_flag_after = att["attention"][rows, :, 0, flagged].mean(axis=0)
top_token = att["attention"][:, :, 0, :].mean(axis=1).argmax(axis=-1)
print("weight on the flagged token per head, before:", on_flag_before.round(3))
print("weight on the flagged token per head, after: ", on_flag_after.round(3))
hit_rate = np.mean(top_token == flagged)
print(f"[CLS] attends most to the flagged token in {hit_rate:.0%} of the sequences")

fig = Figure(figsize=(5.5, 3.2), layout="constrained")
ax = fig.add_subplot()
heads = np.arange(len(on_flag_after))
ax.bar(heads - 0.2, on_flag_before, width=0.4, label="before training")
ax.bar(heads + 0.2, on_flag_after, width=0.4, label="after training")
ax.axhline(1 / 12, color="black", ls="--", lw=1, label="uniform")
ax.set_xticks(heads, [f"head {h}" for h in heads])
ax.set_ylabel("[CLS] → flagged token")
ax.legend()
fig""",
    ),
    (
        "md",
        """## Attention rollout

Rollout (Abnar & Zuidema, 2020) follows attention through all layers: each layer's heads are
averaged, the residual connection is modelled as `0.5·A + 0.5·I`, and the layers' matrices are
multiplied. With one layer it is simply half the mean attention plus half "stay where you are",
so `[CLS]` keeps about 0.5 for itself; among the *other* tokens the flagged one should win.""",
    ),
    (
        "code",
        """rollout = nv.attention_rollout(model, x_test)  # (N, 12, 12)
cls_row = rollout[:, 0]
print(f"[CLS] keeps {cls_row[:, 0].mean():.2f} for itself")
print(f"flagged token gets {cls_row[rows, flagged].mean():.2f}, the other tokens "
      f"{(1 - cls_row[:, 0] - cls_row[rows, flagged]).mean() / 10:.3f} each on average")
best_other = cls_row[:, 1:].argmax(axis=1) + 1
hit_rate = np.mean(best_other == flagged)
print(f"largest rollout weight outside [CLS] is on the flagged token in {hit_rate:.0%}")
nv.plot.attention_text(cls_row[3], tokens=tokens[3], query=0, title="rollout from [CLS]")""",
    ),
    (
        "md",
        """In a notebook, `nv.plot.attention_html` gives an interactive view of the same weights
(pick the layer and head, hover over a token to see where it attends); `.save("attention.html")`
writes it as a standalone page.""",
    ),
    (
        "code",
        """nv.plot.attention_html(att, tokens=tokens[0], rollout=rollout[:1])""",
    ),
    (
        "md",
        """## A vision transformer on the digits

`nv.datasets.digits_vit` cuts each 8×8 digit into 16 patches of 2×2 pixels, adds a `[CLS]`
token and runs two transformer blocks; the attention layers sit inside custom blocks
(`encoder_1/mha`). `nv.patch_attention_map` lays the rollout row of `[CLS]` back onto the pixel
grid. Unlike the flagged task there is no single right answer here: rollout shows which patches
the classifier gathers information from, and the maps of digits of one class look alike, while
those of different classes differ.""",
    ),
    (
        "code",
        """keras.utils.set_random_seed(0)
digits = nv.datasets.digits()
vit = nv.datasets.digits_vit()
vit.fit(digits.train.x, digits.train.y, epochs=6, batch_size=32, verbose=0)
print("ViT test accuracy", round(vit.evaluate(digits.test.x, digits.test.y, verbose=0)[1], 3))
print({path: a.shape for path, a in nv.get_attention(vit, digits.test.x[:2]).items()})""",
    ),
    (
        "code",
        """images, labels = digits.test.x, digits.test.y
vit_rollout = nv.attention_rollout(vit, images)  # (N, 17, 17)
heat = nv.patch_attention_map(vit_rollout, images.shape[1:3])  # (N, 8, 8)
order = np.argsort(labels[:16], kind="stable")
nv.plot.rollout_overlay(
    images[order][:8], heat[order][:8], titles=[str(c) for c in labels[order][:8]],
    title="ViT attention rollout from [CLS]",
)""",
    ),
    (
        "code",
        """flat = heat.reshape(len(heat), -1)
corr = np.corrcoef(flat)
same = labels[:, None] == labels[None, :]
off_diagonal = ~np.eye(len(labels), dtype=bool)
print(f"mean correlation of rollout maps, same class:      {corr[same & off_diagonal].mean():.2f}")
print(f"mean correlation of rollout maps, different class: {corr[~same].mean():.2f}")""",
    ),
]

NOTEBOOKS["04_feature_visualization.ipynb"] = [
    (
        "md",
        """# 04 · Feature visualization: what does a unit want to see?

{badge}

Instead of asking which pixels of a given image matter (notebook 02), ask the reverse: which
image makes a class, or a channel, respond as strongly as possible? `nv.maximize_activation`
optimizes the input image itself, with the model fixed. We do it for the ten class logits and
for channels of a conv layer of the digits CNN, and compare each optimized image with the real
digits that excite the same channel most. Offline, CPU, well under a minute.""",
    ),
    ("code", INSTALL),
    (
        "code",
        """%matplotlib inline
import numpy as np
from IPython.display import Image
from matplotlib.figure import Figure

import keras_nnviz as nv
from keras_nnviz import objectives

model, data = nv.datasets.trained_digits_cnn(epochs=6)
x_all = np.concatenate([data.train.x, data.test.x])
y_all = np.concatenate([data.train.y, data.test.y])
print("test accuracy", round(model.evaluate(data.test.x, data.test.y, verbose=0)[1], 3))""",
    ),
    (
        "md",
        """## Class logits

An *objective* says what to maximize: `objectives.class_logit(3)` is the logit of class 3 (the
value behind the softmax, so the optimizer cannot win by pushing the other classes down). A list
of objectives is optimized together, one image each, in one compiled loop. The recipe is
Lucid's: the image is parameterized in Fourier space, squashed into [0, 1], and randomly
jittered and scaled at every step, which keeps it from turning into high-frequency noise.""",
    ),
    (
        "code",
        """classes = [objectives.class_logit(c) for c in range(10)]
history = nv.maximize_activation(model, classes, steps=256, progress=False, history=True)
images = history.images
probs = model.predict(images, verbose=0)
print("classified as:", probs.argmax(axis=1))
print("confidence:   ", probs.max(axis=1).round(3))
nv.plot.optimized_images(images, titles=[f"class {c}" for c in range(10)], ncols=10)""",
    ),
    (
        "md",
        """The check: fed back through the model, each image is classified as the class it was
optimized for, with near-certain confidence. The images are not pretty digits — they are what
*this* model counts as evidence: bright where the class has ink and dark where competing
classes have ink. Compare the average digit of each class:""",
    ),
    (
        "code",
        """means = np.stack([x_all[y_all == c].mean(axis=0) for c in range(10)])
nv.plot.optimized_images(means, titles=[f"mean {c}" for c in range(10)], ncols=10,
                         title="average training digit per class")""",
    ),
    (
        "md",
        """`history.objective` holds every image's objective at every step; the logits rise quickly,
then level off.""",
    ),
    (
        "code",
        """fig = Figure(figsize=(6, 3.2), layout="constrained")
ax = fig.add_subplot()
ax.plot(history.objective)
ax.set_xlabel("step")
ax.set_ylabel("class logit")
ax.set_title("objective during optimization (one line per class)")
fig""",
    ),
    (
        "md",
        """`history.frames` are snapshots of all ten images during the optimization;
`nv.plot.save_gif` turns them into an animation.""",
    ),
    (
        "code",
        """gif = nv.plot.save_gif(history.frames, "class_logits.gif", ncols=10, duration=60)
Image(filename=gif)""",
    ),
    (
        "md",
        """## A channel, and the digits that excite it

Channels of `conv2` are the model's intermediate features. To find an interesting one, measure
each channel's mean activation on every digit and pick channels that respond much more to one
class than on average. `nv.top_examples` ranks the real digits by the same quantity the
objective `objectives.channel("conv2", k)` maximizes (the channel's mean over positions).""",
    ),
    (
        "code",
        """acts = nv.get_activation(model, x_all, "conv2").mean(axis=(1, 2))  # (N, 32)
class_means = np.stack([acts[y_all == c].mean(axis=0) for c in range(10)])  # (10, 32)
selectivity = (class_means.max(axis=0) - class_means.mean(axis=0)) / (
    class_means.mean(axis=0) + 1e-6
)
chosen = np.argsort(-selectivity)[:8]
print("most class-selective conv2 channels:", chosen)
print("favourite class of each:            ", class_means.argmax(axis=0)[chosen])""",
    ),
    (
        "code",
        """k = int(chosen[0])
objective = objectives.channel("conv2", k)
image = nv.maximize_activation(model, objective, steps=256, progress=False).images
top = nv.top_examples(model, x_all, "conv2", k, n=8)
optimized_value = float(nv.featureviz.objective_values(model, image, objective)[0])
print("labels of the top examples:", y_all[top.indices])
print(f"activation: optimized image {optimized_value:.2f}, best real digit {top.values[0]:.2f}")
nv.plot.optimized_vs_examples(
    image[0], top.images, top.values, optimized_value=optimized_value, title=str(objective)
)""",
    ),
    (
        "md",
        """The optimized image repeats the pattern the channel detects all over the image (the
objective averages the channel over positions, so every position should fire), and the real
digits that excite the channel most share that pattern. The optimized image drives the channel
harder than any real digit: feature visualization finds the channel's preferred stimulus, not
a typical input.

The eight most selective channels side by side (optimized together in one batch):""",
    ),
    (
        "code",
        """channel_objectives = [objectives.channel("conv2", int(c)) for c in chosen]
channel_images = nv.maximize_activation(
    model, channel_objectives, steps=256, progress=False
).images
nv.plot.optimized_images(
    channel_images, titles=[str(o) for o in channel_objectives], ncols=8
)""",
    ),
    (
        "md",
        """## Several facets of one channel

With `n=4` the optimization starts from four random images. Without a penalty all four end
up at nearly the same pattern: a channel of this tiny 8×8 model has essentially one favourite
stimulus. Subtracting a *diversity* penalty (how alike the four images' `conv2` features are)
pushes them apart, so they show other ways to excite the channel — at the price of a lower
activation (the number above each image). Objectives combine with `+`, `-` and `*`.""",
    ),
    (
        "code",
        """plain = nv.maximize_activation(model, objective, n=4, steps=256, progress=False)
diverse = nv.maximize_activation(
    model, objective - 1.0 * objectives.diversity("conv2"), n=4, steps=256, progress=False
)
both = np.concatenate([plain.images, diverse.images])
values = nv.featureviz.objective_values(model, both, objective)
kinds = ["plain"] * 4 + ["diverse"] * 4
nv.plot.optimized_images(
    both,
    titles=[f"{kind}: {v:.2f}" for kind, v in zip(kinds, values)],
    ncols=4,
    title=f"{objective}: without (top) and with (bottom) the diversity penalty",
)""",
    ),
    (
        "md",
        """## What in a real digit drives the channel

`nv.guided_view` and `nv.deconv_view` take a real input and reconstruct the part of it that
drives the unit (guided backpropagation / deconvnet). With `reduce="max"` the objective is the
channel's strongest position, so the view covers that position's receptive field. Red: more ink
there would excite the channel more; blue: less. With a single ReLU layer between the input and
`conv2` the two rules differ only slightly here; they drift apart in deeper networks.""",
    ),
    (
        "code",
        """strongest = objectives.channel("conv2", k, reduce="max")
views = {
    "guided": nv.guided_view(model, top.images[:4], strongest),
    "deconv": nv.deconv_view(model, top.images[:4], strongest),
}
nv.plot.backprop_views(top.images[:4], views, title=str(strongest))""",
    ),
]

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


NOTEBOOKS["06_text_models_and_llms.ipynb"] = [
    (
        "md",
        """# 06 · Text classifiers and causal LMs from KerasHub: token attributions and attention

{badge}

Explain a KerasHub BERT text classifier and a small GPT-2 causal language model: which tokens
decide the prediction (integrated gradients at the token embedding, with the tokenizer's token
strings), and where every head attends. Everything is built offline from tiny configs and an
in-memory vocabulary; no weights are downloaded. CPU, about a minute.""",
    ),
    (
        "code",
        INSTALL
        + """if importlib.util.find_spec("keras_hub") is None:
    %pip install -q keras-hub
""",
    ),
    (
        "code",
        """%matplotlib inline
import keras
import keras_hub
import numpy as np
from IPython.display import display

import keras_nnviz as nv

keras.utils.set_random_seed(0)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "this", "that", "movie",
         "film", "plot", "actor", "story", "good", "bad", "fine", "dull", "fun", "was", "is",
         "it", "and", "but", "very", "really", "so", "too", "quite", "just"]
tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
print(tokenizer("this movie was really good"))""",
    ),
    (
        "md",
        """## A task whose answer is known

Eight-token sentences of filler words; class 0 when the word `bad` appears, class 1 for `good`,
class 2 when neither does. A model that solved the task must point at that one word.""",
    ),
    (
        "code",
        """rng = np.random.default_rng(0)
good, bad = tokenizer.token_to_id("good"), tokenizer.token_to_id("bad")
filler = [i for i in range(5, len(VOCAB)) if i not in (good, bad)]
n, T = 768, 8
ids = rng.choice(filler, size=(n, T)).astype("int32")
y = rng.integers(0, 3, size=n)
where = rng.integers(0, T, size=n)
has = np.flatnonzero(y < 2)
ids[has, where[has]] = np.array([bad, good])[y[has]]
x = {"token_ids": ids, "padding_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}

backbone = keras_hub.models.BertBackbone(
    vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=32,
    intermediate_dim=64, max_sequence_length=16,
)
classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None)
classifier.compile(
    keras.optimizers.Adam(1e-3),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
classifier.fit(x, y, epochs=3, batch_size=32, verbose=0)
test = has[has >= n - 96][:6]  # held-out sentences that hold the deciding word
x_test = {k: v[test] for k, v in x.items()}
words = [[tokenizer.id_to_token(int(i)) for i in row] for row in ids[test]]
pred = np.asarray(classifier.predict(x_test, verbose=0)).argmax(axis=1)
print("predicted", pred, "true", y[test])""",
    ),
    (
        "md",
        """## Token attributions

`nv.integrated_gradients` on a text model attributes to the token embedding by default
(`nv.core.model.embedding_layer`): one signed score per token, and the scores add up to the
logit gap between the sentence and an all-zero embedding (completeness). Red tokens push
towards the predicted class, blue ones against it. `nv.plot.token_html` is the same as an
offline HTML page (escaped, no network) that shows in a notebook and saves to a file.""",
    ),
    (
        "code",
        """attr = nv.integrated_gradients(classifier, x_test, signed=True, normalize=False)
names = ["bad", "good", "neither"]
print("highest-scoring token:", [w[i] for w, i in zip(words, attr.argmax(axis=1))])
title = f"IG per token (predicted {names[pred[0]]})"
display(nv.plot.attention_text(attr[0], words[0], title=title))
nv.plot.token_html(attr, words, labels=[f"predicted {names[p]}" for p in pred])""",
    ),
    (
        "md",
        """## Attention with token strings

`nv.get_attention` reads every KerasHub attention layer's probabilities (here the softmax
inside each `TransformerEncoder`), shaped `(N, heads, T_query, T_key)`.""",
    ),
    (
        "code",
        """att = nv.get_attention(classifier, {k: v[:1] for k, v in x_test.items()})
print({path: a.shape for path, a in att.items()})
nv.plot.attention_model_view(att, tokens=words[0], title="BERT attention of sentence 0")""",
    ),
    (
        "md",
        """## A causal language model

A GPT-2 causal LM from a tiny config (random weights: this shows the mechanics, not a trained
model's behaviour). Its output is `(N, T, vocabulary)`; for such a model the default target is
the **next token after the prompt**: the logits at each sample's last non-padding position.
`nv.targets.Token(token=..., position=...)` picks another token or position.""",
    ),
    (
        "code",
        """gpt2 = keras_hub.models.GPT2Backbone(
    vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=32,
    intermediate_dim=64, max_sequence_length=16,
)
lm = keras_hub.models.GPT2CausalLM(gpt2, preprocessor=None)
prompt = np.zeros((2, 6), "int32")  # two prompts, the second padded with [PAD] = 0
for i, text in enumerate(["this movie was really good", "the plot is"]):
    row = np.asarray(tokenizer(text))
    prompt[i, : len(row)] = row
mask = (prompt != 0).astype("int32")
lm_x = {"token_ids": prompt, "padding_mask": mask}
logits = np.asarray(lm.predict(lm_x, verbose=0))
last = mask.sum(axis=1) - 1
nexts = [tokenizer.id_to_token(int(logits[i, p].argmax())) for i, p in enumerate(last)]
print("next tokens:", nexts)
prompt_words = [[tokenizer.id_to_token(int(i)) for i in row] for row in prompt]
lm_attr = nv.integrated_gradients(lm, lm_x, steps=32, signed=True, normalize=False)
display(nv.plot.token_html(lm_attr, prompt_words, title="IG for the predicted next token"))
third = nv.saliency(lm, lm_x, nv.targets.Token(position=2))
print("saliency for the token after position 2 (later tokens cannot matter):", third.round(2))""",
    ),
    (
        "code",
        """lm_att = nv.get_attention(lm, {k: v[:1] for k, v in lm_x.items()})
nv.plot.attention_model_view(lm_att, tokens=prompt_words[0], title="GPT-2: causal attention")""",
    ),
]


NOTEBOOKS["07_crossmodal.ipynb"] = [
    (
        "md",
        """# 07 · Image–text models: where an image matches a text, and which words matter

{badge}

For a model that scores an image against a text — a CLIP-style dual encoder — keras_nnviz
explains the match score with its usual methods: `nv.image_text_map` shows **where in each image
its text matches** (Grad-CAM at the image tower, or any gradient method at the pixels), and
`nv.text_image_attribution` shows **which tokens of the text made the score**. We train a small
dual encoder on a synthetic task whose right answer is known (coloured squares, captions naming
a colour), watch its alignment form during training with `nv.callbacks.ImageTextMaps`, measure
the pointing game, then run the same functions on a tiny KerasHub CLIP and SigLIP. Offline,
CPU, about a minute.""",
    ),
    (
        "code",
        INSTALL
        + """if importlib.util.find_spec("keras_hub") is None:
    %pip install -q keras-hub
""",
    ),
    (
        "code",
        """%matplotlib inline
import shutil
from pathlib import Path

import keras
import numpy as np
from IPython.display import Image, display
from keras import layers as L

import keras_nnviz as nv

keras.utils.set_random_seed(0)
COLOURS = {1: (1.0, 0.0, 0.0), 2: (0.0, 1.0, 0.0), 3: (0.0, 0.0, 1.0)}  # token id -> RGB
NAMES = {1: "red", 2: "green", 3: "blue"}""",
    ),
    (
        "md",
        """## A task whose answer is known

Black 32×32 images with two 8×8 squares of different colours, one top-left and one
bottom-right. A text is two token ids: a colour (1 red, 2 green, 3 blue) and padding (0). A
matching pair names a colour the image holds; a mismatched pair names the third colour, which
the image lacks. The model's right answer for *where* is the named square.""",
    ),
    (
        "code",
        """def scenes(n, seed):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 32, 32, 3), "float32")
    named, other, absent = (np.zeros((n, 2), "int32") for _ in range(3))
    boxes, other_boxes = [], []
    for i in range(n):
        a, b = rng.choice([1, 2, 3], size=2, replace=False)
        (ya, xa), (yb, xb) = rng.integers(0, 8, size=2), rng.integers(16, 24, size=2)
        if rng.random() < 0.5:
            (ya, xa), (yb, xb) = (yb, xb), (ya, xa)
        images[i, ya : ya + 8, xa : xa + 8] = COLOURS[a]
        images[i, yb : yb + 8, xb : xb + 8] = COLOURS[b]
        named[i, 0], other[i, 0], absent[i, 0] = a, b, 6 - a - b
        boxes.append((ya, xa))
        other_boxes.append((yb, xb))
    return images, named, other, absent, boxes, other_boxes


def pointing_game(maps, boxes):
    \"\"\"The fraction of maps whose maximum lies inside the named square.\"\"\"
    peaks = [np.unravel_index(m.argmax(), m.shape) for m in maps]
    return np.mean([y <= py < y + 8 and x <= px < x + 8 for (py, px), (y, x) in zip(peaks, boxes)])


images, texts, others, absent, boxes, other_boxes = scenes(1024, seed=1)
test_images, test_texts, test_others, _, test_boxes, test_other_boxes = scenes(64, seed=2)
display(nv.plot.image_grid(test_images[:6], [f"text: {NAMES[t]}" for t in test_texts[:6, 0]]))""",
    ),
    (
        "md",
        """## A CLIP-style dual encoder, trained with `ImageTextMaps` watching

An image tower (3×3 convolution, 1×1 convolution to 16 features per position, average pool), a
text tower (token embedding, average), and the score is their dot product — the shape of CLIP
at toy size. `nv.callbacks.ImageTextMaps` takes fixed (image, text) pairs and draws, at each
snapshot, where each image matches its text: a frame per epoch (PNG, TensorBoard, GIF) and the
report's section. Its default `every="auto"` keeps its cost inside the fit's shared budget; here
`every=1` draws every epoch.""",
    ),
    (
        "code",
        """image = keras.Input((32, 32, 3), name="images")
ids = keras.Input((2,), dtype="int32", name="token_ids")
h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv")(image)
feats = L.Conv2D(16, 1, activation="relu", name="image_features")(h)
pooled = L.GlobalAveragePooling2D(name="pool")(feats)
named = L.GlobalAveragePooling1D(name="named")(L.Embedding(4, 16, name="token_embedding")(ids))
score = L.Dot(axes=1, name="score")([pooled, named])
model = keras.Model([image, ids], score, name="colour_clip")

x = [np.concatenate([images, images]), np.concatenate([texts, absent])]
y = np.concatenate([np.ones(len(images)), np.zeros(len(images))]).astype("float32")
model.compile(
    keras.optimizers.Adam(0.01),
    keras.losses.BinaryCrossentropy(from_logits=True),
    metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
)
log_dir = Path("logs_07")
shutil.rmtree(log_dir, ignore_errors=True)
captions = [f"a {NAMES[t]} square" for t in test_texts[:4, 0]]
watch = nv.callbacks.ImageTextMaps(
    log_dir, images=test_images[:4], texts=test_texts[:4], captions=captions, every=1
)
history = model.fit(x, y, epochs=5, batch_size=64, shuffle=True, verbose=0, callbacks=[watch])
print("train accuracy per epoch:", np.round(history.history["binary_accuracy"], 3))
frames = sorted((log_dir / "image_text_maps" / "maps").glob("*.png"))
print([f.name for f in frames])
display(Image(filename=str(frames[0])), Image(filename=str(frames[-1])))""",
    ),
    (
        "md",
        """The first frame is the untrained model; the last is after five epochs: each map sits
on the square its caption names. `nv.report.build_report(log_dir)` collects the frames
with an epoch slider in one HTML page.

## The pointing game, per method

On 64 new scenes: the fraction of maps whose peak falls inside the named square (chance:
12.5 %), and, naming the *other* square's colour, whether the map moves there (the text decides
where, not the image alone).""",
    ),
    (
        "code",
        """methods = {"grad_cam": {}, "saliency": {}, "gradient_x_input": {},
           "integrated_gradients": {"steps": 32}}
maps = {}
for method, options in methods.items():
    options = {"method": method, "progress": False, **options}
    maps[method] = nv.image_text_map(model, test_images, test_texts, **options)
    moved = nv.image_text_map(model, test_images, test_others, **options)
    print(f"{method:>22}: pointing game {pointing_game(maps[method], test_boxes):.0%}, "
          f"other colour named {pointing_game(moved, test_other_boxes):.0%}")
nv.plot.image_text_maps(
    test_images[:6], maps["grad_cam"][:6], [f"a {NAMES[t]} square" for t in test_texts[:6, 0]],
    ncols=6, title="Grad-CAM at the image tower: where each image matches its text",
)""",
    ),
    (
        "md",
        """## Which region matches which phrase

One image, three phrases: `nv.plot.image_phrase_maps` puts the image beside its map for each
phrase, with the match score. A phrase naming a colour the image lacks scores below zero; its
map, scaled to [0, 1] like every map, has no square to find (here it lands on the black
background) — read each map with its score. `nv.plot.image_text_html` is the same as an offline
HTML page:
hover (or tab to) a phrase and its map is drawn over the image. The page is one file with
inline script, a Content-Security-Policy and no network access; `.save("match.html")` writes
it.""",
    ),
    (
        "code",
        """one = test_images[0]
phrases = np.array([[1, 0], [2, 0], [3, 0]], "int32")
repeated = np.repeat(one[None], 3, axis=0)
phrase_maps = nv.image_text_map(model, repeated, phrases)
scores = np.asarray(model.predict([repeated, phrases], verbose=0)).ravel()
display(nv.plot.image_phrase_maps(one, phrase_maps, ["red", "green", "blue"], scores=scores))
nv.plot.image_text_html(one, phrase_maps, ["red", "green", "blue"], scores=scores)""",
    ),
    (
        "md",
        """## Which words made the score

`nv.text_image_attribution` explains the same score on the text: one signed value per token,
at the text tower's token embedding (integrated gradients by default). The colour token
carries the score; the padding token nothing.""",
    ),
    (
        "code",
        """token_scores = nv.text_image_attribution(model, test_images[:4], test_texts[:4])
words = [[NAMES[int(t[0])], "[pad]"] for t in test_texts[:4]]
nv.plot.token_html(token_scores, words, labels=[f"image {i}" for i in range(4)])""",
    ),
    (
        "md",
        """## KerasHub CLIP and SigLIP

The same two functions on KerasHub's `CLIPBackbone` and `SigLIPBackbone`, built from tiny
configs (2 layers, width 32, 8×8 patches of 32×32 images; **random weights**, so the maps show
the mechanics, not a trained model's judgement). The score of pair *i* is the diagonal of the
model's image–text logit matrix; Grad-CAM runs at the vision tower's last layer of patch
tokens, laid out on the patch grid. With pretrained weights (`from_preset`), pass the
preprocessor's token ids as `texts`.""",
    ),
    (
        "code",
        """import keras_hub

tower = dict(hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64)
text = dict(vocabulary_size=64, embedding_dim=32, **tower)
M = keras_hub.models
clip = M.CLIPBackbone(
    M.CLIPVisionEncoder(patch_size=8, image_shape=(32, 32, 3), **tower),
    M.CLIPTextEncoder(max_sequence_length=12, **text),
    projection_dim=16,
)
siglip = M.SigLIPBackbone(
    M.SigLIPVisionEncoder(patch_size=8, image_shape=(32, 32, 3), **tower),
    M.SigLIPTextEncoder(max_sequence_length=12, **text),
)
rng = np.random.default_rng(0)
hub_ids = rng.integers(1, 64, size=(3, 12)).astype("int32")
for name, dual in [("CLIP", clip), ("SigLIP", siglip)]:
    hub_maps = nv.image_text_map(dual, test_images[:3], hub_ids)
    hub_tokens = nv.text_image_attribution(dual, test_images[:3], hub_ids, steps=16)
    print(f"{name}: maps {hub_maps.shape}, token attributions {hub_tokens.shape}")
    display(nv.plot.image_text_maps(
        test_images[:3], hub_maps, [f"random text {i}" for i in range(3)],
        ncols=3, title=f"tiny {name} (random weights): Grad-CAM on the patch grid",
    ))""",
    ),
    (
        "md",
        """## Vision-language generation (PaliGemma-style)

A vision-language model reads the image as image tokens (its vision tower's output, one per
patch) beside the prompt's token embeddings. `nv.vlm_attribution` explains the next generated
token on both at once: integrated gradients along one path that scales the image tokens and the
prompt embeddings together, so the patches' and the tokens' attributions add up to the logit's
change (`completeness_error` says how closely). `nv.text_to_image_attention` gives each decoder
layer's attention from the prompt to the image tokens on the patch grid. A tiny random-weight
KerasHub PaliGemma here: the plumbing and the picture, not a meaningful answer.""",
    ),
    (
        "code",
        """keras.utils.set_random_seed(7)
pali = M.PaliGemmaCausalLM(
    backbone=M.PaliGemmaBackbone(
        vocabulary_size=64, image_size=32, num_layers=2, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=16, intermediate_dim=32, head_dim=8,
        vit_patch_size=8, vit_num_heads=2, vit_hidden_dim=16, vit_num_layers=1,
        vit_intermediate_dim=32,
    ),
    preprocessor=None,
)
prompt = rng.integers(5, 64, size=(1, 6)).astype("int32")
r = nv.vlm_attribution(pali, test_images[:1], prompt)
print(
    f"next token {r.token[0]}: image {r.image_share[0]:.0%}, text {r.text_share[0]:.0%} of the "
    f"attribution; completeness error {r.completeness_error[0]:.2g} "
    f"of a logit change of {r.score[0] - r.baseline_score[0]:.3g}"
)
display(nv.plot.vlm_attribution(
    test_images[0], r.image[0], [f"id {i}" for i in prompt[0]], r.text[0],
    image_share=r.image_share[0], generated=f"id {r.token[0]}",
))
for layer, weights in nv.text_to_image_attention(pali, test_images[:1], prompt).items():
    print(f"{layer}: {weights.shape}, mean attention on the image "
          f"{weights[0].sum(axis=(-2, -1)).mean():.0%}")""",
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
    for i, (kind, source) in enumerate(cells):
        source = source.replace("{badge}", badge(name))
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = f"cell-{i:02d}"  # fixed ids: regenerating leaves unchanged notebooks unchanged
        nb.cells.append(cell)
    return nb


#: Stored notebooks stay below this size (their outputs are the preview on GitHub and Colab).
MAX_BYTES = 1_500_000
#: Pictures in stored outputs: at most this wide, 256-colour PNG.
MAX_WIDTH = 900


def execute(nb: nbformat.NotebookNode, workdir: Path) -> nbformat.NotebookNode:
    """Run ``nb`` top to bottom in a fresh kernel with ``workdir`` as its folder (the logs the
    notebooks write stay out of the repository)."""
    from nbclient import NotebookClient

    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return nb


def compact_png(data: bytes, max_width: int = MAX_WIDTH) -> bytes:
    """A smaller PNG of the same picture: at most ``max_width`` wide, 256 colours, optimized
    (figures and frames hold few colours; the eye does not see the difference)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        if im.width > max_width:
            im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
        out = io.BytesIO()
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


# TensorFlow's C++ log lines (CUDA probing, CPU features) say something about the machine that
# ran the notebook, nothing about the example.
_TF_LOG = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|To enable)"
)


def _machine_noise(output: nbformat.NotebookNode) -> bool:
    """Drop TensorFlow's log lines from a stderr stream; True when nothing else was in it."""
    if output.output_type != "stream" or output.name != "stderr":
        return False
    kept = [ln for ln in output.text.splitlines(keepends=True) if not _TF_LOG.match(ln)]
    output.text = "".join(kept)
    return not output.text.strip()


def compact(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Shrink stored outputs: compressed PNGs, GIFs as their last frame, no run metadata
    (timestamps would change every regeneration)."""
    import base64
    import io

    from PIL import Image

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        cell.outputs = [o for o in cell.get("outputs", []) if not _machine_noise(o)]
        for out in cell.outputs:
            data = out.get("data", {})
            if "image/gif" in data:
                with Image.open(io.BytesIO(base64.b64decode(data.pop("image/gif")))) as gif:
                    gif.seek(gif.n_frames - 1)
                    buffer = io.BytesIO()
                    gif.convert("RGB").save(buffer, "PNG")
                data["image/png"] = base64.b64encode(buffer.getvalue()).decode()
            if "image/png" in data:
                png = compact_png(base64.b64decode(data["image/png"]))
                data["image/png"] = base64.b64encode(png).decode()
    return nb


def main(argv: list[str] | None = None) -> None:
    """Write every notebook; by default executed, with its (compacted) outputs stored."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    parser.add_argument(
        "--no-execute", action="store_true", help="write the sources only (outputs cleared)"
    )
    args = parser.parse_args(argv)
    for name, cells in NOTEBOOKS.items():
        if args.names and name not in args.names:
            continue
        nb = build(name, cells)
        if not args.no_execute:
            with tempfile.TemporaryDirectory() as workdir:
                nb = compact(execute(nb, Path(workdir)))
        nbformat.write(nb, HERE / name)
        size = (HERE / name).stat().st_size
        print(f"wrote {HERE / name} ({size / 1e6:.2f} MB)")
        if size > MAX_BYTES:
            raise SystemExit(f"{name} is {size / 1e6:.2f} MB, over {MAX_BYTES / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
