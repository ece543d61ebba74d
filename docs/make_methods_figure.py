"""Render ``docs/images/methods_issue24.png``: the CAM variants and reference-based methods on a
CNN trained in seconds on the bright-patch localization task (the patch decides the class, its
mask is drawn as a box).

Run: ``python docs/make_methods_figure.py`` (about a minute on two CPU cores; offline).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's keras_nnviz, installed or not


def main() -> None:
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    data = nv.datasets.patch_localization(n=704, size=32, seed=0)
    layers = keras.layers
    inputs = keras.Input((32, 32, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x[:640], data.y[:640], epochs=6, batch_size=32, verbose=0)

    x, masks = data.x[640:643], data.masks[640:643]
    background = data.x[:16]
    methods = {
        "Grad-CAM": nv.grad_cam(model, x),
        "HiRes-CAM": nv.hires_cam(model, x),
        "XGrad-CAM": nv.xgrad_cam(model, x),
        "Eigen-CAM": nv.eigen_cam(model, x),
        "Ablation-CAM": nv.ablation_cam(model, x),
        "Guided Grad-CAM": nv.guided_grad_cam(model, x),
        "DeepLIFT": nv.deeplift(model, x),
        "DeepSHAP": nv.deep_shap(model, x, baselines=background),
        "GradientSHAP": nv.gradient_shap(model, x, baselines=background, seed=0),
        "noise tunnel": nv.noise_tunnel(model, x, seed=0),
    }
    # Two samples (a square patch, a cross patch), each on two rows of six panels: legible at
    # the width of a docs page.
    shown = [0, 1]
    cols = 6
    fig, axes = plt.subplots(2 * len(shown), cols, figsize=(8.2, 6.4))
    for s, row in enumerate(shown):
        ys, xs = np.nonzero(masks[row])
        box = (xs.min() - 0.5, ys.min() - 0.5, np.ptp(xs) + 1, np.ptp(ys) + 1)
        kind = "square" if data.y[640 + row] == 0 else "cross"
        panels = [(f"input ({kind})", x[row, ..., 0], "gray")]
        panels += [(name, np.asarray(m)[row], "inferno") for name, m in methods.items()]
        for i, ax in enumerate(axes[2 * s : 2 * s + 2].ravel()):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= len(panels):
                ax.axis("off")
                continue
            name, image, cmap = panels[i]
            ax.imshow(image, cmap=cmap)
            ax.add_patch(plt.Rectangle(box[:2], *box[2:], fill=False, ec="cyan", lw=1))
            ax.set_title(name, fontsize=9)
    fig.suptitle("The bright patch (cyan box) decides the class: where each method looks")
    fig.tight_layout()
    path = nv.plot.save(fig, HERE / "images" / "methods_issue24.png", dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
