"""Packaging for keras-nnviz (import name ``keras_nnviz``)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _version() -> str:
    for line in (HERE / "keras_nnviz" / "_version.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip("\"'")
    raise RuntimeError("version not found")


# The repository the notebooks' Colab badge and install cell point at (examples/make_notebooks.py
# REPO; tests/test_notebooks.py checks they agree).
REPOSITORY = "https://github.com/keras-nnviz/keras_nnviz"

setup(
    name="keras-nnviz",
    version=_version(),
    url=REPOSITORY,
    project_urls={
        "Source": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
        "Examples": f"{REPOSITORY}/tree/main/examples",
        "Benchmarks": f"{REPOSITORY}/blob/main/benchmarks/README.md",
    },
    description=(
        "See inside Keras 3 models: activations, weights, attributions, attention, "
        "feature visualization and training-time callbacks."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_nnviz", "keras_nnviz.*"]),
    py_modules=["nnviz_cli"],
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "numpy",
        "matplotlib",
        "scikit-learn",
        "umap-learn",
        "tf-keras-vis",
        "pillow",
        "scipy",  # attribution: blurred baselines, pointing-game tolerance, Spearman
        # tf.summary (the TensorBoard sink of the callbacks) is implemented in tensorboard, which
        # TF >= 2.16 no longer installs; its projector proto is read in the tests.
        "tensorboard",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "ruff",
            "scipy",
            "nbclient",
            "nbformat",
            "ipykernel",
            "selenium>=4.11",
            # Real-world models in the tests: tiny random-init KerasHub configs, no downloads.
            "keras-hub",
            # Ecosystem test: a KerasTuner search deep-copies the callbacks for every trial.
            "keras-tuner",
        ],
    },
    entry_points={"console_scripts": ["nnviz = nnviz_cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Visualization",
    ],
)
