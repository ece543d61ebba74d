"""PCA / t-SNE / UMAP projection."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import keras_nnviz as nv


def _clusters(n=60, dim=10, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n // 3)
    centres = rng.normal(scale=8, size=(3, dim))
    return centres[labels] + rng.normal(size=(n, dim)), labels


def _separation(points, labels):
    """Between-centre distance over within-cluster spread: > 1 means clusters stay apart."""
    centres = np.stack([points[labels == k].mean(0) for k in np.unique(labels)])
    within = np.mean(
        [np.linalg.norm(points[labels == k] - centres[k], axis=1).mean() for k in np.unique(labels)]
    )
    between = np.min(
        [np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1 :]]
    )
    return between / within


def test_pca_matches_numpy_variance_and_is_deterministic():
    data, _ = _clusters()
    out = nv.project(data, method="pca", n_components=3)
    assert out.shape == (60, 3) and out.dtype == np.float32
    centred = data - data.mean(0)
    eigvals = np.sort(np.linalg.eigvalsh(np.cov(centred.T)))[::-1][:3]
    np.testing.assert_allclose(out.var(0, ddof=1), eigvals, rtol=1e-4)
    np.testing.assert_array_equal(out, nv.project(data, method="pca", n_components=3))


@pytest.mark.parametrize(
    "method",
    ["pca", "tsne", pytest.param("umap", marks=pytest.mark.slow)],  # numba JIT: ~20 s
)
def test_methods_keep_clusters_apart(method):
    data, labels = _clusters()
    out = nv.project(data.reshape(60, 2, 5), method=method)  # extra axes are flattened
    assert out.shape == (60, 2)
    assert _separation(out, labels) > 2.0


def test_projection_errors():
    with pytest.raises(nv.InvalidArgumentError, match="pca"):
        nv.project(np.zeros((5, 2)), method="lda")
    with pytest.raises(nv.InvalidInputError, match="at least 3"):
        nv.project(np.zeros((2, 4)), method="pca")
    with pytest.raises(nv.InvalidInputError, match="shape"):
        nv.project(np.zeros(5), method="pca")


def test_import_does_not_load_umap_or_tsne():
    code = (
        "import sys, keras_nnviz; print('umap' in sys.modules, 'sklearn.manifold' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_export_projector_keeps_other_entries_of_the_config(tmp_path):
    # Keras's TensorBoard callback (or the user) may have written an entry already.
    (tmp_path / "projector_config.pbtxt").write_text(
        'embeddings {\n  tensor_name: "keras/layer"\n  tensor_path: "keras.tsv"\n}\n'
    )
    config = nv.projection.export_projector(tmp_path, np.zeros((4, 3)), labels=[0, 1, 0, 1])
    text = config.read_text()
    assert 'tensor_name: "keras/layer"' in text and 'tensor_name: "embedding"' in text
    nv.projection.export_projector(tmp_path, np.ones((4, 3)))  # again: one entry, not two
    assert config.read_text().count('tensor_name: "embedding"') == 1
