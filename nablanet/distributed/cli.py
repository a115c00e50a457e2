"""Command-line pieces for running on a cluster: the flags, the cluster, the data.

The commands (train, evaluate, predict) wire these in:

- `add_cluster_arguments` adds ``--workers N`` (start a `LocalCluster` of N worker
  processes on this machine, at most `WORKERS_PER_CPU` per CPU unless
  ``--allow-many-workers``) and ``--cluster tcp://HOST:PORT`` (use a running scheduler;
  a malformed address is a usage error at once, and ``--connect-timeout`` bounds the
  whole handshake);
- `cluster_from_args` is a context manager that starts or connects the client for the
  command's duration (and yields None when neither flag is given);
- `read_distributed` turns ``--data`` into dask arrays read on the workers: a folder of
  ``.npy`` shards, or a file or glob of CSV or Parquet files;
- `round_logger` writes the progress line of each round.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nablanet._optional import requires_extra

if TYPE_CHECKING:  # numpy is not imported to build the command line's parser
    from nablanet.distributed.local_sgd import RoundCallback

#: File suffixes that dask.dataframe reads, by reader.
TABLE_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}


#: ``--workers`` may start at most this many processes per CPU without --allow-many-workers.
WORKERS_PER_CPU = 2
#: Seconds ``--cluster`` waits for the scheduler (dask's distributed.comm.timeouts.connect).
CONNECT_TIMEOUT_S = 30.0
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)\Z", re.DOTALL)


def _address(text: str) -> str:
    """A ``tcp://HOST:PORT`` address, or a usage error saying what is wrong with it."""
    m = _SCHEME.match(text)
    if m is None:
        raise argparse.ArgumentTypeError(
            f"expected a scheduler address like tcp://HOST:PORT, got {text!r}"
        )
    scheme = m["scheme"].lower()
    if scheme == "tls":
        raise argparse.ArgumentTypeError(
            f"{text!r}: a tls:// scheduler needs certificates, which the command line cannot "
            "pass; connect from Python with distributed.Client(address, security=...)"
        )
    if scheme != "tcp":
        raise argparse.ArgumentTypeError(
            f"{text!r}: the command line connects to tcp://HOST:PORT schedulers only, not "
            f"{scheme}://"
        )
    host, colon, port = m["rest"].rpartition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"{text!r} has no port: give tcp://HOST:PORT")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: write an IPv6 host in brackets, tcp://[HOST]:PORT"
        )
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the port must be a whole number from 1 to 65535, got {port!r}"
        )
    if host.strip("[]") == "" or any(c in host for c in "/?#@ \t\n"):
        raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not a host name or address")
    return text


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def worker_limit() -> int:
    """The most ``--workers`` processes started without ``--allow-many-workers``."""
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


def too_many_workers(args: argparse.Namespace) -> str | None:
    """Why ``--workers`` is refused (each worker is a process), or None when it is not."""
    n = getattr(args, "workers", None)
    if n is None or n <= worker_limit() or getattr(args, "allow_many_workers", False):
        return None
    return (f"--workers {n} would start {n} processes, more than {WORKERS_PER_CPU} per CPU "
            f"of this machine ({worker_limit()}); give --allow-many-workers if you mean it")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers``, ``--cluster`` and ``--memory-limit`` to a command's parser."""
    group = parser.add_argument_group("cluster (Dask)")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_workers, default=None, metavar="N",
        help="start a local Dask cluster of N worker processes (one thread each) and "
        "train, evaluate or predict on it",
    )
    where.add_argument(
        "--cluster", type=_address, default=None, metavar="tcp://HOST:PORT",
        help="use the Dask scheduler running at this address",
    )
    group.add_argument(
        "--connect-timeout", type=_seconds, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
        help="give up on a --cluster scheduler that does not answer within this time, "
        "connection and handshake together (dask's distributed.comm.timeouts.connect; "
        f"default {CONNECT_TIMEOUT_S:g})",
    )
    group.add_argument(
        "--allow-many-workers", action="store_true",
        help=f"let --workers start more than {WORKERS_PER_CPU} processes per CPU",
    )
    group.add_argument(
        "--memory-limit", default="auto", metavar="SIZE",
        help="memory limit of each --workers process, e.g. 1GiB ('auto' shares the "
        "machine's memory)",
    )


@contextmanager
def cluster_from_args(args: argparse.Namespace) -> Iterator[Any]:
    """Start (``--workers``) or join (``--cluster``) a cluster; yield its client or None.

    The client becomes dask's default while the block runs, so every computation of the
    command goes to the cluster; a started cluster is shut down on leaving.
    """
    workers = getattr(args, "workers", None)
    address = getattr(args, "cluster", None)
    if workers is None and address is None:
        yield None
        return
    with requires_extra("dask"):
        from distributed import Client, LocalCluster

    if address is not None:
        with requires_extra("dask"):
            import dask

        timeout = getattr(args, "connect_timeout", CONNECT_TIMEOUT_S)
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
            handshake(address, timeout)
            with Client(address, timeout=timeout) as client:
                yield client
        return
    reason = too_many_workers(args)
    if reason is not None:
        raise ValueError(reason)
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", memory_limit=getattr(args, "memory_limit", "auto"),
    ) as cluster, Client(cluster) as client:
        yield client


def handshake(address: str, timeout: float) -> None:
    """Connect to a scheduler and complete dask's handshake within ``timeout`` seconds.

    dask bounds the TCP connection by distributed.comm.timeouts.connect but then waits
    for the other end's handshake without limit: a server that accepts and never speaks
    would hang the command forever. Here the two together are bounded, and a silent
    server fails as a refused one does.

    Raises
    ------
    OSError
        "Timed out trying to connect to ADDRESS after T s", as dask says it.
    """
    import asyncio

    with requires_extra("dask"):
        from distributed.comm import connect

    async def shake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:
        asyncio.run(shake())
    except TimeoutError:
        raise OSError(f"Timed out trying to connect to {address} after {timeout:g} s "
                      "(it accepted the connection but never answered as a Dask "
                      "scheduler)") from None


def _npy_shards(folder: Path) -> list[Path]:
    shards = sorted(folder.glob("*.npy"))
    if not shards:
        raise FileNotFoundError(f"{folder} holds no .npy shards")
    return shards


def _table_files(pattern: str) -> tuple[list[str], str]:
    """The files a CSV/Parquet path or glob names, and the dask.dataframe reader for them."""
    files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise FileNotFoundError(f"no file matches {pattern!r}")
    suffixes = {Path(f).suffix.lower() for f in files}
    if len(suffixes) != 1 or next(iter(suffixes)) not in TABLE_READERS:
        raise ValueError(
            f"{pattern!r} must name files of one kind among {', '.join(TABLE_READERS)}, "
            f"got {', '.join(sorted(suffixes))}"
        )
    return files, TABLE_READERS[suffixes.pop()]


def _csv_options(path: str) -> dict[str, Any]:
    """Header and delimiter of CSV files as nablanet's own reader sees them (from the first).

    Dask's reader takes the first row for a header whatever it holds; `inspect_csv` decides
    from every column, so a file of numbers only keeps its first row.
    """
    from nablanet.data.csv import inspect_csv

    layout = inspect_csv(path)
    names = layout.names or [f"column {j}" for j in range(layout.n_columns)]
    return {"sep": layout.delimiter, "header": 0 if layout.names else None, "names": names}


def read_distributed(
    path: str | os.PathLike[str], target: int | str = -1, rows_per_block: int = 65536
) -> tuple[Any, Any]:
    """Dask arrays (X, y) read on the workers from shards or table files.

    Parameters
    ----------
    path : str or path-like
        A folder of ``.npy`` shards (2-D tables, read in name order through memory maps),
        or a CSV or Parquet file, or a glob of them (``data/part-*.parquet``).
    target : int or str, default -1
        The target column: a 0-based index (negative counts from the end), or a header
        name for CSV/Parquet files.
    rows_per_block : int, default 65536
        Rows per block of each ``.npy`` shard.

    Returns
    -------
    X : dask.array.Array of shape (m, n_features)
    y : dask.array.Array of shape (m,)
        Every block is a task reading its file, so a block lost with a worker is read
        again. Row counts are known (a dataframe's partitions are counted once).
    """
    with requires_extra("dask"):
        import dask.array as da

    path = os.fspath(path)
    if os.path.isdir(path):
        from nablanet.distributed._blocks import from_npy

        table = da.concatenate([from_npy(p, rows_per_block) for p in _npy_shards(Path(path))])
        if table.ndim != 2:
            raise ValueError(f"the shards in {path} must be 2-D tables, got {table.ndim}-D")
        if not isinstance(target, int):
            raise ValueError(
                f".npy shards have no column names: give the target as an index, got {target!r}"
            )
        n = table.shape[1]
        if not -n <= target < n:
            raise ValueError(f"target column {target} is out of range for {n} columns")
        j = target % n
        keep = [c for c in range(n) if c != j]
        return table[:, keep], table[:, j]
    with requires_extra("dask"):
        import dask.dataframe as dd

    files, reader = _table_files(path)
    df = getattr(dd, reader)(files, **_csv_options(files[0]) if reader == "read_csv" else {})
    columns = list(df.columns)
    if isinstance(target, int):
        if not -len(columns) <= target < len(columns):
            raise ValueError(f"target column {target} is out of range for {len(columns)} columns")
        name = columns[target]
    elif target in columns:
        name = target
    else:
        raise ValueError(
            f"no column named {target!r}; the columns are: {', '.join(map(str, columns))}"
        )
    X = df.drop(columns=[name]).to_dask_array(lengths=True)
    y = df[name].to_dask_array(lengths=True)
    return X, y


def round_logger(stream: IO[str] | None = None) -> RoundCallback:
    """A `local_sgd` progress callback writing one line per round."""

    def log(epoch: int, round_: int, rounds: int, loss: float) -> None:
        out = stream if stream is not None else sys.stderr
        out.write(f"epoch {epoch + 1}  round {round_ + 1}/{rounds}  loss {loss:.6g}\n")
        out.flush()

    return log
