"""The report's Diagnosis section: the Doctor callback's findings first, escaped, each linked to
the section of its evidence picture and its layers to the architecture graph."""

from __future__ import annotations

import keras_nnviz as nv
from keras_nnviz.diagnosis import Finding
from keras_nnviz.io import Manifest


def _write(log_dir, findings):
    manifest = Manifest.for_dir(log_dir)
    manifest.set_callback(
        "doctor",
        **{
            "class": "Doctor",
            "title": "Diagnosis",
            "every": "1",
            "params": {"findings": [f.to_dict() for f in findings], "epoch": 3},
        },
    )
    manifest.add_run("doctor", {"started": None, "ended": None, "model": "m<1>", "fit": "f"})
    manifest.set_callback("dead_units", **{"class": "DeadUnits", "title": "Dead units"})
    manifest.add_run("dead_units", {"started": None, "ended": None, "model": "m<1>", "fit": "f"})
    manifest.save()
    manifest.compact()


def test_diagnosis_section_comes_first_with_links(tmp_path):
    _write(
        tmp_path,
        [
            Finding(
                "dead_units",
                "error",
                "dead <b>units</b>",
                layers=["dense<x>"],
                evidence={"dense": "30/32"},
                advice="lower the learning rate",
            ),
            Finding("unscaled_inputs", "warning", "inputs far from unit scale"),
        ],
    )
    html = nv.build_report(tmp_path).read_text(encoding="utf-8")
    main = html[html.index('<main class="nv-main">') :]
    assert main.index(">Diagnosis<") < main.index(">Dead units<")
    assert "2 finding(s) after epoch 3" in main
    assert "dead &lt;b&gt;units&lt;/b&gt;" in main and "dense&lt;x&gt;" in main
    assert "<b>units</b>" not in main
    diagnosis = main[main.index(">Diagnosis<") : main.index(">Dead units<")]
    dead_units_id = main[: main.index(">Dead units<")].rsplit('id="', 1)[1].split('"')[0]
    assert f"href='#{dead_units_id}'" in diagnosis  # "see dead_units"
    assert "error" in diagnosis and "try:" in diagnosis


def test_no_findings_says_so(tmp_path):
    _write(tmp_path, [])
    html = nv.build_report(tmp_path).read_text(encoding="utf-8")
    assert "No problem found after epoch 3." in html
