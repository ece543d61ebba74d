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


@pytest.mark.slow
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


# -- safe on a shared or browsing machine (issue 21) ----------------------------------------------
# These build the manifest by hand (no training): a run whose manifest lists one picture.

FILE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


def png_bytes(size: int = 4) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def write_run(folder, files=("act/conv1/epoch_0001.png",), ended=True, started=None, epochs=1):
    """A run folder whose manifest lists ``files`` (PNG pictures written where they end in .png)."""
    from keras_nnviz.io.manifest import MANIFEST_FORMAT, MANIFEST_NAME, utc_now

    now = utc_now()
    entries = []
    for i, rel in enumerate(files):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(png_bytes() if rel.endswith(".png") else b"data")
        entries.append({
            "callback": "act", "tag": "conv1", "kind": "frame", "sink": "png", "path": rel,
            "media": "image/png", "epoch": i + 1, "batch": None, "step": i + 1, "final": False,
            "width": 4, "height": 4, "caption": "conv1", "time": now,
        })  # fmt: skip
    fit = {"id": "f1", "model": "m", "started": started or now, "epochs": epochs,
           "ended": now if ended else None, "metrics": [{"epoch": 1, "loss": 0.5}]}  # fmt: skip
    manifest = {
        "format": MANIFEST_FORMAT, "version": 1, "updated": now, "entries": entries,
        "callbacks": {"act": {"class": "ActivationMaps", "title": "Activation maps",
                              "tags": ["conv1"], "errors": [], "params": {},
                              "runs": [{"fit": "f1", "model": "m", "started": fit["started"],
                                        "ended": fit["ended"], "epochs": epochs}]}},
        "fits": [fit],
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def raw_get(port: int, path: str, host: str | None = "default", method: str = "GET"):
    """One request with a chosen ``Host`` header (None: none at all)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", f"127.0.0.1:{port}" if host == "default" else host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_serve_refuses_other_hosts(server):
    _, root, srv = server
    port = srv.server_port
    write_run(root / "run")
    (root / ".env").write_text("TOP-SECRET")
    good = [f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"]
    for host in good:
        status, _, body = raw_get(port, "/api/runs", host)
        assert status == 200 and json.loads(body)[0]["run"] == "run", host
    bad = ["attacker.example", f"attacker.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}",
           f"127.0.0.1.attacker.example:{port}", "", None]  # fmt: skip
    for host in bad:
        for path in ("/", "/api/runs", "/run/run/", "/run/run/act/conv1/epoch_0001.png"):
            status, headers, body = raw_get(port, path, host)
            assert status == 421 and b"run" not in body.replace(b"runs", b""), (host, path)
            assert headers["x-content-type-options"] == "nosniff", (host, path)


# (path under the served folder, planted file or None, listed in the manifest?, expected status)
FILE_ROWS = [
    ("run/act/conv1/epoch_0001.png", None, True, 200),  # the report's picture
    ("run/act/other.png", "act/other.png", False, 404),  # a picture the manifest does not list
    ("run/.env", ".env", False, 404),
    ("run/.env", ".env", True, 404),  # dotfiles even when a crafted manifest names them
    ("run/.git/config", ".git/config", True, 404),
    (".env", None, False, 404),  # the served folder's own dotfile (planted below)
    ("run/.nnviz/manifest.lock", ".nnviz/manifest.lock", False, 404),
    ("run/nnviz_manifest.json", None, False, 404),  # the index itself: not a listed file
    ("run/page.xhtml", "page.xhtml", True, 404),  # markup never, listed or not
    ("run/page.xht", "page.xht", True, 404),
    ("run/page.xml", "page.xml", True, 404),
    ("run/page.svg", "page.svg", True, 404),
    ("run/page.html", "page.html", True, 404),
    ("run/page.HTML", "page.HTML", True, 404),
    ("run/tool.exe", "tool.exe", True, 404),  # an extension outside the table
    ("run/noext", "noext", True, 404),
    ("run/meta.tsv", "meta.tsv", True, 200),  # a listed table is served, as a table
]


@pytest.mark.parametrize(("path", "planted", "listed", "status"), FILE_ROWS)
def test_serve_only_files_the_manifest_lists(server, path, planted, listed, status):
    base, root, srv = server
    (root / ".env").write_text("TOP-SECRET")
    files = ["act/conv1/epoch_0001.png"] + ([planted] if listed and planted else [])
    folder = root / "run"
    if planted:
        (folder / planted).parent.mkdir(parents=True, exist_ok=True)
        (folder / planted).write_text("TOP-SECRET <script>fetch('/api/runs')</script>")
    write_run(folder, files)
    got, headers, body = raw_get(srv.server_port, "/" + path.replace("run/", "run/run/", 1)
                                 if path.startswith("run/") else "/run/" + path)  # fmt: skip
    assert got == status, path
    assert headers["x-content-type-options"] == "nosniff"
    if status == 404:
        assert b"TOP-SECRET" not in body and headers["content-type"].startswith("text/plain")
    else:
        served = MEDIA_OF[path.rpartition(".")[2]]
        assert headers["content-type"] == served and body == (folder / path[4:]).read_bytes()
        assert "sandbox" in headers["content-security-policy"]


MEDIA_OF = {"png": "image/png", "tsv": "text/tab-separated-values; charset=utf-8"}


def test_every_response_carries_the_security_headers(server, tmp_path):
    _, root, srv = server
    port = srv.server_port
    write_run(root / "run")
    (root / "bad").mkdir()
    (root / "bad" / "nnviz_manifest.json").write_text("{ not json")
    pages = ["/", "/run/run/", "/run/bad/"]  # the index, a report, an error page
    others = ["/api/runs", "/api/state?run=run", "/run/run/act/conv1/epoch_0001.png",
              "/nowhere", "/run/run/.env"]  # fmt: skip
    for path in pages + others:
        for method in ("GET", "HEAD"):
            status, headers, body = raw_get(port, path, method=method)
            assert status in (200, 404, 500), (path, status)
            for key, value in FILE_HEADERS.items():
                assert headers.get(key) == value, (path, key)
            policy = headers["content-security-policy"]
            if path in pages:
                assert headers["content-type"] == "text/html; charset=utf-8", path
                assert "script-src 'nonce-" in policy and "frame-ancestors 'none'" in policy
                nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
                if method == "GET":
                    assert f'nonce="{nonce}"'.encode() in body, path  # the page's own script
            else:
                assert policy == "default-src 'none'; sandbox", path
            if method == "HEAD":
                assert body == b"", path
    # The standard library's own errors (an unknown method) carry them too.
    status, headers, _ = raw_get(port, "/", method="POST")
    assert status == 501 and headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_serve_streams_files(server, monkeypatch):
    from pathlib import Path

    _, root, srv = server
    folder = write_run(root / "run", ["act/big.png"])
    big = folder / "act" / "big.png"
    big.write_bytes(png_bytes() + bytes(range(256)) * 12_000)  # ~3 MB

    def whole_file(self):
        raise AssertionError(f"read_bytes({self}) in the server: files must be streamed")

    monkeypatch.setattr(Path, "read_bytes", whole_file)
    status, headers, body = raw_get(srv.server_port, "/run/run/act/big.png")
    monkeypatch.undo()
    assert status == 200 and int(headers["content-length"]) == big.stat().st_size
    assert body == big.read_bytes()


@pytest.mark.slow
def test_idle_connections_do_not_stop_the_server(tmp_path):
    import socket
    import time

    write_run(tmp_path / "run")
    # 3 s: the 12 connects below take milliseconds, so no slot frees up while they are made.
    srv = make_server(tmp_path, port=0, timeout=3.0, max_connections=4)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    idle = []
    try:
        for _ in range(12):  # 3x the cap, each sending nothing
            idle.append(socket.create_connection(("127.0.0.1", srv.server_port), timeout=15))
        # Over the cap: answered 503 at once and closed, not queued behind the idle ones.
        answers = []
        for s in idle[4:]:
            answers.append(s.recv(100))
        assert all(a.startswith(b"HTTP/1.0 503") for a in answers), answers
        # The ones within the cap are closed by the idle timeout.
        for s in idle[:4]:
            assert s.recv(100) == b""
        # And the server answers a normal request (bounded wait).
        deadline = time.monotonic() + 15
        while True:
            status = raw_get(srv.server_port, "/api/runs")[0]
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200
    finally:
        for s in idle:
            s.close()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=TIMEOUT)


def test_make_server_checks_its_limits(tmp_path):
    from keras_nnviz.errors import InvalidArgumentError

    for kwargs in ({"timeout": 0}, {"timeout": -1.0}, {"max_connections": 0}):
        with pytest.raises(InvalidArgumentError, match="timeout > 0 and max_connections >= 1"):
            make_server(tmp_path, **kwargs)


def test_a_killed_run_reads_stopped(server):
    import os
    import time

    from keras_nnviz.report._manifest import state

    base, root, srv = server
    folder = write_run(root / "run", ended=False)
    live = get_json(base, "/api/state?run=run")
    assert live["running"] and not live["stopped"]
    assert "training in progress" in get(base, "/run/run/")[2].decode()

    old = time.time() - 3600  # kill -9 an hour ago: the fit never wrote "ended"
    os.utime(folder / "nnviz_manifest.json", (old, old))
    dead = get_json(base, "/api/state?run=run")
    assert not dead["running"] and dead["stopped"] and dead["state"] != live["state"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old))
    assert dead["since"] == since
    page = get(base, "/run/run/")[2].decode()
    assert f"stopped (no update since {since})" in page and "training in progress" not in page
    index = get(base, "/")[2].decode()
    boot = json.loads(re.search(r'id="nv-data">(.*?)</script>', index, re.S).group(1))
    assert boot["runs"][0]["stopped"] and not boot["runs"][0]["running"]

    # A fit whose epochs are long is not declared dead between two of them: 10 epochs in
    # 10 hours, silent for 1 hour (< 3 mean epochs) is running; silent 4 hours is stopped.
    now = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 11 * 3600))
    manifest = {"fits": [{"id": "f", "started": started, "epochs": 10, "ended": None}]}
    assert state(manifest, last_write=now - 3600, now=now)["running"]
    assert state(manifest, last_write=now - 4 * 3600 - 10, now=now)["stopped"]
    assert not state(manifest, last_write=now - 4 * 3600, now=now + 3600)["running"]
    # A finished fit is neither, however old.
    ended = {"fits": [{"id": "f", "started": started, "epochs": 10, "ended": started}]}
    assert not state(ended, last_write=0.0)["running"] and not state(ended, 0.0)["stopped"]


WEIRD_RUNS = ["run?x", "run#frag", "a b", "ü", "deep/run?y#z"]


def test_odd_run_names_get_working_links(server):
    import urllib.parse

    base, root, _ = server
    for name in WEIRD_RUNS:
        write_run(root / name, ["pics/e 1#?.png"])
    index = get(base, "/")[2].decode()
    assert "encodeURIComponent" in index and "encodeURI(r.run)" not in index
    boot = json.loads(re.search(r'id="nv-data">(.*?)</script>', index, re.S).group(1))
    assert sorted(r["run"] for r in boot["runs"]) == sorted(WEIRD_RUNS)
    for run in WEIRD_RUNS:
        # The index script's link: each segment through encodeURIComponent.
        link = "/run/" + "/".join(urllib.parse.quote(s, safe="") for s in run.split("/")) + "/"
        status, ctype, html = get(base, link)
        assert status == 200 and ctype.startswith("text/html"), run
        srcs = re.findall(r'<img class="[^"]*" src="([^"]+)"', html.decode())
        assert srcs, run
        for src in srcs:
            status, ctype, body = get(base, urllib.parse.urljoin(link, src))
            assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG", (run, src)


# (what the manifest file holds) -> a readable 500 page: no traceback, the message escaped
DAMAGED_ROWS = [
    "{ not json",
    '["a list"]',
    '{"format": "keras_nnviz.manifest", "entries": "no"}',
    '{"format": "keras_nnviz.manifest", "entries": [], "callbacks": "<b>x</b>"}',
]
# Damaged parts in a usable manifest are left out (one ManifestWarning): the rest renders.
PARTLY_DAMAGED_ROWS = [
    '{"format": "keras_nnviz.manifest", "entries": [], "callbacks": {"<b>x</b>": "no"}}',
    '{"format": "keras_nnviz.manifest", "entries": [{"callback": "a"}], '
    '"callbacks": {"a": {"runs": [1]}}}',
]


@pytest.mark.parametrize("text", DAMAGED_ROWS)
def test_a_damaged_manifest_gives_a_readable_page(server, text):
    base, root, _ = server
    (root / "bad").mkdir()
    (root / "bad" / "nnviz_manifest.json").write_text(text)
    status, ctype, body = get(base, "/run/bad/")
    page = body.decode()
    assert ctype == "text/html; charset=utf-8" and status in (422, 500), (status, page[:300])
    assert "Traceback" not in page and "<b>x</b>" not in page and 'File "' not in page
    assert "Content-Security-Policy" in page
    # The list and the JSON still answer, naming the trouble.
    assert get(base, "/")[0] == 200
    state = get_json(base, "/api/state?run=bad")
    assert not state["running"] and state.get("error")


@pytest.mark.filterwarnings("ignore::keras_nnviz.errors.ManifestWarning")
@pytest.mark.parametrize("text", PARTLY_DAMAGED_ROWS)
def test_a_manifest_with_damaged_parts_serves_the_rest(server, text):
    base, root, _ = server
    (root / "bad").mkdir()
    (root / "bad" / "nnviz_manifest.json").write_text(text)
    status, ctype, body = get(base, "/run/bad/")
    page = body.decode()
    assert ctype == "text/html; charset=utf-8" and status == 200, (status, page[:300])
    assert "Traceback" not in page and "<b>x</b>" not in page


def test_error_page_escapes_the_message():
    from keras_nnviz.cli.serve import error_html

    page = error_html(500, "bad <script>alert(1)</script> & more")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in page


def test_a_fit_writes_a_heartbeat_every_epoch(tmp_path):
    # A callback that draws every 3rd epoch still appends the epoch's curves to the journal at
    # every epoch end: the journal's mtime is the heartbeat ``nnviz serve`` reads.
    from keras_nnviz.io.manifest import JOURNAL_NAME

    data = nv.datasets.digits()
    sizes = []

    class Beat(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            BackgroundWriter.submit(lambda: None).result()
            journal = tmp_path / JOURNAL_NAME
            sizes.append(journal.stat().st_size if journal.exists() else 0)

    cb = nv.callbacks.ActivationMaps(tmp_path, x=data.test.x[:1], layers=["conv1"], every=3)
    _fit(tmp_path, nv.datasets.digits_cnn(), data, [cb, Beat()], epochs=3)
    assert len(sizes) == 3 and sizes[0] < sizes[1] < sizes[2], sizes
