"""``nnviz serve``: a log folder on 127.0.0.1 whose pages follow new epochs, fits and runs."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

import keras
import pytest

import keras_nnviz as nv
from keras_nnviz.cli import main
from keras_nnviz.cli.serve import find_runs, make_server
from keras_nnviz.io import BackgroundWriter

TIMEOUT = 20


def get(base: str, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get_json(base: str, path: str):
    status, ctype, body = get(base, path)
    assert status == 200 and ctype == "application/json", (status, body[:200])
    return json.loads(body)


@pytest.fixture
def server(tmp_path):
    srv = make_server(tmp_path, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", tmp_path, srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), "the server did not stop"


class _Probe(keras.callbacks.Callback):
    """Fetches the run's state and page when an epoch begins (the writer has caught up)."""

    def __init__(self, base: str):
        super().__init__()
        self.base, self.seen = base, {}

    def on_epoch_begin(self, epoch, logs=None):
        BackgroundWriter.submit(lambda: None).result()
        self.seen[epoch] = (
            get_json(self.base, "/api/state?run=run1"),
            get(self.base, "/run/run1/")[2].decode(),
        )


def _fit(log_dir, model, data, callbacks, epochs, initial_epoch=0):
    model.fit(
        data.train.x[:64], data.train.y[:64], epochs=epochs, initial_epoch=initial_epoch,
        batch_size=32, verbose=0, callbacks=callbacks,
    )  # fmt: skip


def test_serve_follows_epochs_fits_and_runs(server):
    base, root, srv = server
    assert srv.server_address[0] == "127.0.0.1"
    data = nv.datasets.digits()
    x = data.test.x[:1]
    model = nv.datasets.digits_cnn()
    run1 = root / "run1"
    _fit(run1, model, data, [nv.callbacks.ActivationMaps(run1, x=x, layers=["conv1"])], 1)

    status, ctype, page = get(base, "/")
    assert status == 200 and ctype.startswith("text/html") and b"Content-Security-Policy" in page
    assert [r["run"] for r in get_json(base, "/api/runs")] == ["run1"]
    first = get_json(base, "/api/state?run=run1")
    assert first["epoch"] == 1 and not first["running"]
    html = get(base, "/run/run1/")[2].decode()
    assert "connect-src &#x27;self&#x27;" in html  # the page may poll its own server, only
    srcs = re.findall(r'<img class="[^"]*" src="([^"]+)"', html)
    assert srcs and not srcs[0].startswith("data:")
    status, ctype, png = get(base, "/run/run1/" + srcs[0])
    assert status == 200 and ctype == "image/png" and png[:4] == b"\x89PNG"

    # A second fit writes more epochs: the state and the page show them as they come.
    probe = _Probe(base)
    cbs = [nv.callbacks.ActivationMaps(run1, x=x, layers=["conv1"]), nv.callbacks.Report(run1)]
    _fit(run1, model, data, [*cbs, probe], epochs=3, initial_epoch=1)
    state, html = probe.seen[2]
    assert state["running"] and state["epoch"] == 2 and state["epochs"] == 3
    assert state["state"] != first["state"]
    assert "training in progress — epoch 2 of 3" in html
    frames = json.loads(re.search(r'id="nv-data">(.*?)</script>', html, re.S).group(1))["frames"]
    assert max(f["epoch"] for fr in frames.values() for f in fr) == 2
    done = get_json(base, "/api/state?run=run1")
    assert not done["running"] and done["epoch"] == 3

    # A new run in the folder appears in the list.
    run2 = root / "deeper" / "run2"
    _fit(run2, nv.datasets.digits_cnn(), data, [nv.callbacks.Report(run2)], 1)
    assert [r["run"] for r in get_json(base, "/api/runs")] == ["deeper/run2", "run1"]
    assert get(base, "/run/deeper/run2/")[0] == 200


def test_serve_keeps_to_its_folder(server):
    base, root, _ = server
    (root.parent / "secret.txt").write_text("TOP-SECRET")
    (root / "run").mkdir()
    (root / "run" / "link.txt").symlink_to(root.parent / "secret.txt")
    hostile = ["/run/../secret.txt", "/run/%2e%2e/secret.txt", "/run/run/link.txt"]
    hostile += ["/run//etc/hostname", "/api/state?run=..", "/run/nowhere/", "/elsewhere"]
    for path in hostile:
        status, _, body = get(base, path)
        assert status == 404 and b"TOP-SECRET" not in body, path
    assert find_runs(root) == []


def test_serve_cli_checks_its_arguments(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tmp_path), "--port", "99999"])
    assert exc.value.code == 2
