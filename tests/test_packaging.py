"""Packaging: the wheel and sdist build, their metadata, the lazy import and the fast CLI."""

from __future__ import annotations

import email
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import keras_nnviz as nv

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_import_and_cli_help_do_not_load_tensorflow():
    out = _python(
        "import sys, contextlib, io\n"
        "import keras_nnviz\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
        "from keras_nnviz.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as help_text:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print('tensorflow' in sys.modules, 'serve' in help_text.getvalue())\n"
    )
    assert out.split() == ["False", "False", "False", "True"]


def test_every_public_name_resolves_and_the_registry_is_covered():
    assert list(nv.__all__) == sorted(set(nv.__all__), key=list(nv.__all__).index)
    for name in nv.__all__:
        assert getattr(nv, name) is not None, name
    methods = {m.name for m in nv.attribution.METHODS.values()}
    classes = {m.cls.__name__ for m in nv.attribution.METHODS.values()}
    assert methods | classes | {"explain"} <= set(nv.__all__)
    for name in methods:
        assert getattr(nv, name) is nv.attribution.METHODS[name].function
    # A lazy name that is also a submodule would turn into that module once anything imports the
    # submodule (the import system sets the package attribute), so no function may share one.
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(nv.__path__)}
    for name in nv.__all__:
        if name in submodules:
            assert inspect.ismodule(getattr(nv, name)), f"{name}: a function named like a module"
    with pytest.raises(AttributeError, match="no attribute 'grad_kam'"):
        nv.grad_kam  # noqa: B018


@pytest.mark.slow
def test_wheel_and_sdist_build_with_license_and_runtime_requirements(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("keras_nnviz-*.whl")
    [sdist] = tmp_path.glob("keras_nnviz-*.tar.gz")
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [meta_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(archive.read(meta_name))
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert meta["Name"] == "keras-nnviz" and meta["License-Expression"] == "Apache-2.0"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "keras_nnviz/py.typed" in names and "nnviz_cli.py" not in names
    assert {"keras_nnviz/assets/report.js", "keras_nnviz/assets/report.css"} <= set(names)
    assert not any(n.startswith("tests/") for n in names)
    runtime = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert any(r.startswith("tensorflow") for r in runtime)
    for test_only in ("tf-keras-vis", "pytest", "keras-hub", "umap-learn", "selenium"):
        assert not any(r.startswith(test_only) for r in runtime), test_only
    assert (
        "keras-nnviz = keras_nnviz.cli:main" in scripts
        and "nnviz = keras_nnviz.cli:main" in scripts
    )
