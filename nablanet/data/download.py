"""Opt-in download of Fashion-MNIST, verified by SHA-256.

Nothing here runs unless a user asks for it (``download_fashion_mnist()`` or
``load_fashion_mnist(download=True)``). Each file is written to a temporary file in the
cache folder, its SHA-256 is checked, and only then is it renamed into place, through
the project's one atomic write (`nablanet.io.files.atomic_write`: fsync of the file and
of the folder): the cache never holds a partial or unverified file, even after a crash.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from nablanet.io.files import atomic_write

# The data set's official location, as given in the Fashion-MNIST README.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# SHA-256 of the upstream .gz files. Established by rebuilding each upstream file from
# Debian's package dataset-fashion-mnist (same deflate stream; Debian's gzip header
# lacks the original file name and time) and checking it against the MD5 published in
# the Fashion-MNIST README:
#   train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d   train-labels 25c81989df183df01b3e8a0aad5dffbe
#   t10k-images  bef4ecab320f06d8554ea6380940ec79   t10k-labels  bb300cfdad3c16e7a12a480ee83cd310
# tests/test_download.py repeats this check wherever the Debian package is installed.
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
}

# The environment variable naming nablanet's data folder (default ~/.cache/nablanet).
DATA_ENV_VAR = "NABLANET_DATA"

_CHUNK = 1 << 20
_MAX_BYTES = 64 << 20  # the largest file is 26 MB; stop a runaway response well before the disk


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one."""


def data_home() -> Path:
    """Return nablanet's data folder: ``$NABLANET_DATA``, else ``~/.cache/nablanet``."""
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nablanet"


def default_cache_dir() -> Path:
    """Return the folder for downloaded Fashion-MNIST files: ``data_home() / "fashion-mnist"``."""
    return data_home() / "fashion-mnist"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file as 64 hexadecimal digits."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fetch_verified(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically, verified before the rename."""

    def fetch(out: IO[bytes]) -> None:
        h = hashlib.sha256()
        size = 0
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > _MAX_BYTES:
                        raise ChecksumError(
                            f"{url} sent more than {_MAX_BYTES} bytes; "
                            "it cannot be the expected file"
                        )
                    h.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise OSError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OSError(f"could not download {url}: {reason}") from exc
        found = h.hexdigest()
        if found != sha256.lower():
            raise ChecksumError(
                f"{url} failed verification: SHA-256 {found}, expected {sha256}; "
                "the file was discarded"
            )

    atomic_write(dest, fetch)


def download_fashion_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str = FASHION_MNIST_URL,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the four Fashion-MNIST files into the cache folder, verifying each.

    Files already present with the right checksum are kept; any other file of that
    name is replaced by a fresh, verified download.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        The destination folder, created if needed. By default `default_cache_dir()`:
        ``$NABLANET_DATA/fashion-mnist``, else ``~/.cache/nablanet/fashion-mnist``.
    base_url : str
        Where the files are, ``base_url + file name``. By default the Zalando Research
        location named in the data set's README.
    checksums : mapping of str to str, optional
        File name -> expected SHA-256 (hex); the names are the files downloaded.
        By default `FASHION_MNIST_SHA256`.
    timeout : float
        Seconds to wait on the connection before giving up.

    Returns
    -------
    pathlib.Path
        The folder holding the verified files.

    Raises
    ------
    ChecksumError
        If a file's SHA-256 is not the expected one (nothing is left in the folder).
    OSError
        If the server cannot be reached or answers with an error.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    table = FASHION_MNIST_SHA256 if checksums is None else checksums
    if not base_url.endswith("/"):
        base_url += "/"
    for name, sha256 in table.items():
        dest = folder / name
        if dest.is_file() and sha256_of(dest) == sha256.lower():
            continue
        _fetch_verified(base_url + name, dest, sha256, timeout)
    return folder
