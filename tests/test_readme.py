"""The README's Python examples run as written (a README that lies is a bug)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write logs/ and reports into the working folder
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})
    if "nv.callbacks.Report(log_dir)" in BLOCKS[index]:
        assert (tmp_path / "logs" / "digits" / "report.html").is_file()
    if "model_report" in BLOCKS[index]:
        assert (tmp_path / "digits-report" / "report.html").is_file()
