"""Downloads of URL models for real, from an HTTP server on 127.0.0.1 that these tests run: clean, resumed,
corrupted and repaired, cut off mid-file, refused (offline), and through `instyle-engine weights fetch`.

The served file is a randomly initialised AdaIN decoder saved with the released file's key layout, and
what arrives is loaded through the same loader users run (`instyle.models.adain.load_adain`)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from instyle.models import adain
from instyle.modelstore import ModelStore, WeightsError, load_manifest
from instyle.modelstore.download import download
from instyle.modelstore.fetch import fetch
from instyle.modelstore.manifest import REPO_MANIFEST
from instyle.modelstore.store import sha256_of

FAST = {"backoff_s": 0.01, "timeout_s": 10.0}


class FileServer(ThreadingHTTPServer):
    """Serves `files` ({url path: bytes}) with HTTP Range support, and can misbehave on request:
    `drop_after[path] = n` sends the headers of the whole body, then n bytes, then closes the connection
    (once); `ignore_range` answers every request with the whole file (200)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self.sent = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self):
        data = self.server.files.get(self.path)
        asked = self.headers.get("Range")
        self.server.requests.append((self.path, asked))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if asked and not self.server.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.drop_after.pop(self.path, None)
        if cut is not None:
            body = body[:cut]
            self.close_connection = True
        self.wfile.write(body)
        self.server.sent += len(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def saved_state(tmp_path_factory, module: torch.nn.Module, name: str) -> bytes:
    """The bytes of `module`'s state_dict saved as the released file `name` would be."""
    path = tmp_path_factory.mktemp(name.split(".")[0]) / name
    torch.save(module.state_dict(), path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def decoder_bytes(tmp_path_factory) -> bytes:
    """A randomly initialised AdaIN decoder in the released file's format (14 MB)."""
    torch.manual_seed(7)
    return saved_state(tmp_path_factory, adain.decoder(), "decoder.pth")


@pytest.fixture(scope="module")
def encoder_bytes(tmp_path_factory) -> bytes:
    torch.manual_seed(8)
    return saved_state(tmp_path_factory, adain.vgg_normalised(), "vgg_normalised.pth")


def sha256_bytes(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- download() -------------------------------------------------------------------------------------------

def test_clean_download_with_progress(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    dest, bar = tmp_path / "decoder.pth", io.StringIO()
    download(server.url("/decoder.pth"), dest, sha256_bytes(decoder_bytes), len(decoder_bytes), progress=bar, **FAST)
    assert dest.read_bytes() == decoder_bytes
    assert not (tmp_path / "decoder.pth.part").exists()
    assert server.requests == [("/decoder.pth", None)]
    assert "100%" in bar.getvalue() and "14.0/14.0 MB" in bar.getvalue()


def test_partial_file_is_resumed_with_a_range_request(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    dest = tmp_path / "decoder.pth"
    (tmp_path / "decoder.pth.part").write_bytes(decoder_bytes[:5_000_000])
    download(server.url("/decoder.pth"), dest, sha256_bytes(decoder_bytes), len(decoder_bytes), progress=None, **FAST)
    assert dest.read_bytes() == decoder_bytes
    assert server.requests == [("/decoder.pth", "bytes=5000000-")]
    assert server.sent == len(decoder_bytes) - 5_000_000


def test_corrupt_partial_file_is_detected_and_downloaded_again(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    dest = tmp_path / "decoder.pth"
    (tmp_path / "decoder.pth.part").write_bytes(b"\0" * 5_000_000)
    download(server.url("/decoder.pth"), dest, sha256_bytes(decoder_bytes), len(decoder_bytes), progress=None, **FAST)
    assert dest.read_bytes() == decoder_bytes
    assert server.requests == [("/decoder.pth", "bytes=5000000-"), ("/decoder.pth", None)]


def test_connection_dropped_mid_file_is_resumed(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    server.drop_after["/decoder.pth"] = 3_000_000
    dest = tmp_path / "decoder.pth"
    download(server.url("/decoder.pth"), dest, sha256_bytes(decoder_bytes), len(decoder_bytes), progress=None, **FAST)
    assert dest.read_bytes() == decoder_bytes
    assert server.requests == [("/decoder.pth", None), ("/decoder.pth", "bytes=3000000-")]
    assert server.sent == len(decoder_bytes)


def test_server_ignoring_range_restarts_the_file(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    server.ignore_range = True
    dest = tmp_path / "decoder.pth"
    (tmp_path / "decoder.pth.part").write_bytes(decoder_bytes[:1000])
    download(server.url("/decoder.pth"), dest, sha256_bytes(decoder_bytes), len(decoder_bytes), progress=None, **FAST)
    assert dest.read_bytes() == decoder_bytes


def test_bytes_that_never_match_are_refused(server, decoder_bytes, tmp_path):
    server.files["/decoder.pth"] = decoder_bytes
    dest = tmp_path / "decoder.pth"
    with pytest.raises(WeightsError) as err:
        download(server.url("/decoder.pth"), dest, "0" * 64, None, progress=None, attempts=2, **FAST)
    assert err.value.code == "model_corrupt" and "do not match the manifest" in str(err.value)
    assert not dest.exists() and not (tmp_path / "decoder.pth.part").exists()
    assert len(server.requests) == 2


def test_http_error_is_not_retried(server, tmp_path):
    with pytest.raises(WeightsError) as err:
        download(server.url("/moved.pth"), tmp_path / "moved.pth", "0" * 64, progress=None, **FAST)
    assert err.value.code == "download_failed" and "HTTP 404" in str(err.value)
    assert server.requests == [("/moved.pth", None)]


def test_offline_says_what_to_download_and_where_to_put_it(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/models/decoder.pth"
    dest = tmp_path / "adain" / "decoder.pth"
    with pytest.raises(WeightsError) as err:
        download(url, dest, "ab" * 32, 14023458, progress=None, **FAST)
    assert err.value.code == "offline" and url in str(err.value) and "unreachable" in str(err.value)
    assert f"download\n    {url}\n  and put it at\n    {dest}\n" in err.value.hint
    assert "ab" * 32 in err.value.hint
    assert not dest.exists()


# --- fetch() into a store, and the loader users run ---------------------------------------------------------

def served_adain_store(root: Path, server: FileServer, files: dict[str, bytes], base: str | None = None) -> ModelStore:
    """A store whose manifest is the real one with the adain entry's files served by `server` (or at `base`)."""
    entries = load_manifest()
    entry = entries["adain"]
    replaced = []
    for f in entry.files:
        server.files[f"/adain/{f.name}"] = files[f.name]
        url = f"{base or server.url('')}/adain/{f.name}"
        replaced.append(dataclasses.replace(f, url=url, sha256=sha256_bytes(files[f.name]), size=len(files[f.name])))
    entries["adain"] = dataclasses.replace(entry, files=tuple(replaced))
    return ModelStore(root, entries)


def test_fetch_downloads_verifies_repairs_and_the_loader_uses_it(server, decoder_bytes, encoder_bytes, tmp_path):
    files = {adain.ENCODER_FILE: encoder_bytes, adain.DECODER_FILE: decoder_bytes}
    store = served_adain_store(tmp_path, server, files)
    assert store.status("adain") == "missing"
    fetch(store, "adain", log=lambda *_: None, progress=None)
    assert store.status("adain") == "present"

    decoder_path = tmp_path / "adain" / adain.DECODER_FILE
    damaged = bytearray(decoder_path.read_bytes())
    damaged[123456] ^= 0x01
    decoder_path.write_bytes(bytes(damaged))
    assert store.check("adain", adain.DECODER_FILE) == "corrupt"
    server.requests.clear()
    fetch(store, "adain", log=lambda *_: None, progress=None)
    assert server.requests == [("/adain/decoder.pth", None)]  # only the damaged file comes again
    assert sha256_of(decoder_path) == sha256_bytes(decoder_bytes)

    net = adain.load_adain(store)
    expected = torch.load(io.BytesIO(decoder_bytes), weights_only=True)
    assert all(torch.equal(v, expected[k]) for k, v in net.decoder.state_dict().items())
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 24))
    assert out.shape == (1, 3, 32, 40) and torch.isfinite(out).all()


def cli_manifest(tmp_path: Path, store: ModelStore) -> Path:
    """The real manifest file with the adain entry's files replaced by `store`'s."""
    data = json.loads(REPO_MANIFEST.read_text())
    entry = next(m for m in data["models"] if m["name"] == "adain")
    for f in entry["files"]:
        local = store.entry("adain").file(f["name"])
        f.update(url=local.url, sha256=local.sha256, size=local.size)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def weights_cli(*args: str, manifest: Path, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSTYLE_MANIFEST": str(manifest), "INSTYLE_WEIGHTS_DIR": str(root)}
    return subprocess.run([sys.executable, "-m", "instyle.cli", "weights", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_fetch_of_a_url_model(server, decoder_bytes, encoder_bytes, tmp_path):
    files = {adain.ENCODER_FILE: encoder_bytes, adain.DECODER_FILE: decoder_bytes}
    store = served_adain_store(tmp_path / "weights", server, files)
    manifest = cli_manifest(tmp_path, store)
    done = weights_cli("fetch", "adain", manifest=manifest, root=tmp_path / "weights")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "adain/decoder.pth" in done.stderr and "100%" in done.stderr  # the progress bar
    assert re.search(r"^adain\s+present", done.stdout, re.MULTILINE)
    assert weights_cli("verify", "adain", manifest=manifest, root=tmp_path / "weights").returncode == 0


def test_cli_fetch_offline_names_url_and_destination(server, decoder_bytes, encoder_bytes, tmp_path):
    files = {adain.ENCODER_FILE: encoder_bytes, adain.DECODER_FILE: decoder_bytes}
    store = served_adain_store(tmp_path / "weights", server, files, base=f"http://127.0.0.1:{closed_port()}")
    manifest = cli_manifest(tmp_path, store)
    done = weights_cli("fetch", "adain", manifest=manifest, root=tmp_path / "weights")
    assert done.returncode == 1
    url = store.entry("adain").file(adain.ENCODER_FILE).url
    assert f"{url} is unreachable" in done.stderr
    assert f"download\n    {url}\n  and put it at\n    {tmp_path / 'weights' / 'adain' / 'vgg_normalised.pth'}" in done.stderr
