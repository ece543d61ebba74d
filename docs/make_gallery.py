"""Regenerate the README gallery (``docs/images/``) from a real ``nnviz demo`` run.

Run: ``python docs/make_gallery.py`` (about two minutes on two CPU cores; offline). It trains the
demo's two models with the callbacks, then renders larger stills of what the demo's report shows
from the saved models and data, copies a few of the callbacks' own pictures, and, where Debian's
``chromium`` and ``chromium-driver`` are installed, screenshots the report, its architecture
graph with a layer opened and a token-attribution view as a notebook shows it. ``--from DIR`` reuses
an existing demo folder instead of training again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
sys.path.insert(0, str(HERE.parent))  # the checkout's keras_nnviz, installed or not


def _demo(folder: Path | None, epochs: int) -> Path:
    from keras_nnviz.cli import demo

    if folder is not None:
        return folder
    out = Path(tempfile.mkdtemp(prefix="nnviz-gallery-")) / "nnviz-demo"
    demo.run(out, epochs, say=print)
    return out


def _save(fig, name: str, dpi: int = 110) -> None:
    import keras_nnviz as nv

    path = nv.plot.save(fig, IMAGES / name, dpi=dpi)
    print(f"wrote {path.relative_to(HERE.parent)}")


def cnn_pictures(demo: Path) -> None:
    """Grad-CAM, integrated gradients and class images of the demo's digits CNN."""
    import keras
    import numpy as np

    import keras_nnviz as nv

    model = keras.saving.load_model(demo / "models" / "digits_cnn.keras", compile=False)
    data = np.load(demo / "data" / "digits_test.npz")
    names = [str(c) for c in data["class_names"]]
    # one test digit of each of four classes keeps the figure short and varied
    picks = [int(np.flatnonzero(data["y"] == k)[0]) for k in (0, 3, 4, 7)]
    x, y = data["x"][picks], data["y"][picks]
    maps = nv.grad_cam(model, x, progress=False)
    layer = nv.last_spatial_layer(model)  # grad_cam's default layer
    _save(
        nv.plot.attribution_grid(
            x,
            maps,
            labels=y,
            class_names=names,
            method="Grad-CAM",
            title=f"Grad-CAM of the demo CNN (layer {layer}, predicted class)",
        ),
        "gradcam.png",
    )
    ig = nv.integrated_gradients(model, x[:1], target=int(y[0]), signed=True, progress=False)
    _save(
        nv.plot.signed_attribution(
            np.asarray(ig)[0],
            image=x[0],
            title=f"Integrated gradients, class {names[int(y[0])]} (red: for, blue: against)",
        ),
        "integrated_gradients.png",
    )
    objectives = [nv.objectives.class_logit(k) for k in range(10)]
    images = nv.maximize_activation(model, objectives, steps=256, progress=False).images
    _save(
        nv.plot.optimized_images(
            images,
            [f"class {k}" for k in range(10)],
            ncols=5,
            title="What each class logit wants to see (feature visualization)",
        ),
        "feature_visualization.png",
    )


def transformer_pictures(demo: Path) -> None:
    """Attention of the demo's transformer on one test sequence."""
    import keras
    import numpy as np

    import keras_nnviz as nv

    model = keras.saving.load_model(demo / "models" / "flagged_transformer.keras", compile=False)
    data = np.load(demo / "data" / "flagged_test.npz")
    attention = nv.get_attention(model, data["x"][:1])
    _save(
        nv.plot.attention_model_view(
            attention,
            tokens=[str(t) for t in data["tokens"][0]],
            title="Trained transformer: [CLS] attends to the flagged token (*)",
        ),
        "attention.png",
    )


COPIES = {
    "weight_histograms/overview/ridgeline.png": "weight_ridgeline.png",
    "gradient_flow/layers/grad_norm.png": "gradient_flow.png",
    "embedding_projection/dense/summary.png": "embedding.png",
    "grad_cam/maps/animation.gif": "gradcam_training.gif",
}


def copy_callback_pictures(demo: Path) -> None:
    """Pictures the callbacks wrote during training, as they are."""
    for source, name in COPIES.items():
        shutil.copyfile(demo / source, IMAGES / name)
        print(f"copied {source} -> docs/images/{name}")


def _chromium():
    """Headless Chromium at a laptop's window size, or None (with a note) without it."""
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        print("no /usr/bin/chromium + chromedriver: screenshots not refreshed")
        return None
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        "--force-device-scale-factor=1",
        "--disable-background-networking",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def _click(driver, selector: str) -> None:
    element = driver.find_element("css selector", selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)
    driver.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));", element
    )


def screenshots(demo: Path) -> None:
    """The report's top, its architecture graph with a layer opened, and the token view a
    notebook shows, in headless Chromium."""
    import time

    import keras
    import numpy as np

    import keras_nnviz as nv

    driver = _chromium()
    if driver is None:
        return
    try:
        driver.get((demo / "report.html").resolve().as_uri())
        driver.save_screenshot(str(IMAGES / "report.png"))
        print("wrote docs/images/report.png")
        _click(driver, '.nv-arch .nv-node[data-id="conv2"]')
        time.sleep(0.5)
        panel = driver.find_element("css selector", ".nv-arch-panel")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", panel)
        driver.execute_script("window.scrollBy(0, -190);")  # the section title, under the bar
        driver.save_screenshot(str(IMAGES / "architecture.png"))
        print("wrote docs/images/architecture.png")
        # What a notebook cell shows for nv.plot.token_html (the same page, sandboxed there).
        model = keras.saving.load_model(demo / "models" / "flagged_transformer.keras")
        data = np.load(demo / "data" / "flagged_test.npz")
        x, tokens = data["x"][:4], [[str(t) for t in row] for row in data["tokens"][:4]]
        scores = nv.integrated_gradients(model, x, layer="embed", progress=False)
        view = nv.plot.token_html(
            scores, tokens, title="Integrated gradients per token (the flagged token * decides)"
        )
        page = Path(tempfile.mkdtemp()) / "tokens.html"
        view.save(page)
        driver.set_window_size(900, 420)
        driver.get(page.as_uri())
        driver.save_screenshot(str(IMAGES / "token_attribution.png"))
        print("wrote docs/images/token_attribution.png")
        notebook_screenshot(driver)
    finally:
        driver.quit()


def notebook_screenshot(driver) -> None:
    """A stored notebook (executed by ``examples/make_notebooks.py``) as it reads, rendered by
    nbconvert when installed (a docs tool, not a test dependency)."""
    try:
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError:
        print("nbconvert not installed: notebook screenshot not refreshed")
        return
    source = HERE.parent / "examples" / "06_text_models_and_llms.ipynb"
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(source, as_version=4))
    page = Path(tempfile.mkdtemp()) / "notebook.html"
    page.write_text(body, encoding="utf-8")
    driver.set_window_size(1100, 800)
    driver.get(page.as_uri())
    images = driver.find_elements("css selector", ".jp-OutputArea-output img, .output img")
    if images:  # start at the first picture's cell: what the notebook is for
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", images[0])
        driver.execute_script("window.scrollBy(0, -260);")
    driver.save_screenshot(str(IMAGES / "notebook.png"))
    print("wrote docs/images/notebook.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", type=Path, help="an existing nnviz demo folder")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    import keras

    keras.utils.set_random_seed(0)
    IMAGES.mkdir(parents=True, exist_ok=True)
    demo = _demo(args.folder, args.epochs)
    cnn_pictures(demo)
    transformer_pictures(demo)
    copy_callback_pictures(demo)
    screenshots(demo)


if __name__ == "__main__":
    main()
