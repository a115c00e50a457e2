import gzip
import hashlib
import http.server
import os
import re
import socket
import struct
import threading
import urllib.request
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from nablanet.data import download as dl
from nablanet.data.download import (
    FASHION_MNIST_SHA256,
    ChecksumError,
    default_cache_dir,
    download_fashion_mnist,
)
from nablanet.data.idx import write_idx
from nablanet.data.sets import DEBIAN_FASHION_MNIST_DIR, load_fashion_mnist

NAMES = list(FASHION_MNIST_SHA256)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def served(tmp_path):
    """Synthetic Fashion-MNIST .gz files served over HTTP from 127.0.0.1 only."""
    root = tmp_path / "server"
    root.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 10, dtype=np.uint8),
    }
    checksums = {}
    for name, a in arrays.items():
        write_idx(root / name, a)
        checksums[name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_address[1]}/",
            "root": root,
            "checksums": checksums,
            "arrays": arrays,
            "requests": handler.requests,
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_success(served, tmp_path):
    cache = tmp_path / "cache" / "fashion-mnist"
    out = download_fashion_mnist(
        cache, base_url=served["url"], checksums=served["checksums"], timeout=5
    )
    assert out == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)
    for name in NAMES:
        assert (cache / name).read_bytes() == (served["root"] / name).read_bytes()
    data = load_fashion_mnist(cache)
    np.testing.assert_array_equal(
        data.y_train, served["arrays"]["train-labels-idx1-ubyte.gz"].astype(np.int64)
    )


def test_verified_files_are_not_downloaded_again(served, tmp_path):
    kwargs = dict(base_url=served["url"].rstrip("/"), checksums=served["checksums"], timeout=5)
    tmp_path = tmp_path / "cache"
    download_fashion_mnist(tmp_path, **kwargs)
    assert len(served["requests"]) == 4
    download_fashion_mnist(tmp_path, **kwargs)
    assert len(served["requests"]) == 4
    # a damaged file in the cache is replaced by a verified one
    (tmp_path / NAMES[0]).write_bytes(b"damaged")
    download_fashion_mnist(tmp_path, **kwargs)
    assert served["requests"][4:] == ["/" + NAMES[0]]
    assert (tmp_path / NAMES[0]).read_bytes() == (served["root"] / NAMES[0]).read_bytes()


def test_tampered_file_is_rejected_and_removed(served, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    (served["root"] / name).write_bytes(gzip.compress(b"not what was promised"))
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=rf"{re.escape(name)} failed verification: SHA-256"):
        download_fashion_mnist(
            cache, base_url=served["url"], checksums=served["checksums"], timeout=5
        )
    assert not (cache / name).exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary file
    assert isinstance(ChecksumError("x"), ValueError)


def test_missing_file_on_server(served, tmp_path):
    (served["root"] / NAMES[1]).unlink()
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match=rf"could not download .*{re.escape(NAMES[1])}: HTTP 404"):
        download_fashion_mnist(
            cache, base_url=served["url"], checksums=served["checksums"], timeout=5
        )
    assert sorted(p.name for p in cache.iterdir()) == [NAMES[0]]  # no partial file


def test_unreachable_server(tmp_path):
    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError, match=rf"could not download http://127.0.0.1:{port}/"):
        download_fashion_mnist(
            tmp_path, base_url=f"http://127.0.0.1:{port}/", checksums={"a.gz": "0" * 64}, timeout=5
        )
    assert list(tmp_path.iterdir()) == []


def test_load_with_download_true(served, tmp_path, monkeypatch):
    calls = []

    def fake_download(folder):
        calls.append(folder)
        return download_fashion_mnist(
            folder, base_url=served["url"], checksums=served["checksums"], timeout=5
        )

    monkeypatch.setattr("nablanet.data.sets.DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    monkeypatch.setattr("nablanet.data.sets.download_fashion_mnist", fake_download)
    cache = tmp_path / "cache"
    data = load_fashion_mnist(cache_dir=cache, download=True)
    assert calls == [cache]
    assert data.X_train.shape == (20, 784)
    load_fashion_mnist(cache_dir=cache, download=True)  # found now: no second download
    assert calls == [cache]


def test_nothing_downloads_unless_asked(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(FileNotFoundError, match=r"not found\..*\(none of the files\)"):
        load_fashion_mnist(tmp_path)


def test_cache_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data" / "fashion-mnist"
    monkeypatch.delenv("NABLANET_DATA")
    assert default_cache_dir() == Path.home() / ".cache" / "nablanet" / "fashion-mnist"


def test_default_constants():
    assert dl.FASHION_MNIST_URL == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert sorted(NAMES) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in FASHION_MNIST_SHA256.values())


# How the SHA-256 constants were established: Debian's files carry the upstream deflate
# streams under a rewritten gzip header (no file name, a 2020 time). Putting back the
# upstream header (FNAME flag, the name, the 2017 time) gives files whose MD5s are the
# ones published in the Fashion-MNIST README; their SHA-256s are the constants.
UPSTREAM_MD5 = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 1504176606),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 1504176606),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 1504176627),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 1504176627),
}


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)
@pytest.mark.parametrize("name", NAMES)
def test_sha256_constants_match_upstream_md5(name):
    debian = (DEBIAN_FASHION_MNIST_DIR / name).read_bytes()
    assert debian[:4] == b"\x1f\x8b\x08\x00"  # deflate, no flags: Debian's own header
    md5, mtime = UPSTREAM_MD5[name]
    upstream = (
        b"\x1f\x8b\x08\x08"  # deflate, FNAME flag
        + struct.pack("<I", mtime)
        + debian[8:10]  # extra flags, operating system
        + name.removesuffix(".gz").encode()
        + b"\x00"
        + debian[10:]  # the deflate stream, CRC-32 and size
    )
    assert hashlib.md5(upstream).hexdigest() == md5
    assert hashlib.sha256(upstream).hexdigest() == FASHION_MNIST_SHA256[name]


def test_download_is_fsynced_file_then_folder(served, tmp_path, monkeypatch):
    # The project's one atomic write: the data reaches the disk before the rename, and
    # the rename reaches it after (the download used to rename without any fsync).
    import stat as stat_module

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "dir" if stat_module.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    download_fashion_mnist(
        tmp_path / "cache", base_url=served["url"], checksums=served["checksums"], timeout=5
    )
    assert events == ["fsync file", "replace", "fsync dir"] * len(NAMES)
