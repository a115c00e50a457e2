"""The command line never hangs on a cluster, and refuses bad cluster flags at once (issue 19,
item 4).

On main: a server that accepts and never speaks hung ``--cluster`` for over 5 minutes;
``tls://`` gave an internal error, ``inproc://x`` "not enough values to unpack",
``tcp://127.0.0.1:99999`` waited 30 s; ``--workers 10000`` would start 10,000 processes.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

import pytest
from _cli_helpers import assert_one_line_error, cli

from nablanet.distributed.cli import add_cluster_arguments, too_many_workers, worker_limit


@pytest.mark.parametrize("address, says", [
    ("tls://127.0.0.1:1", "needs certificates"),
    ("inproc://x", "tcp://HOST:PORT schedulers only, not inproc://"),
    ("ucx://127.0.0.1:1", "not ucx://"),
    ("tcp://127.0.0.1:99999", "from 1 to 65535, got '99999'"),
    ("tcp://127.0.0.1:0", "from 1 to 65535, got '0'"),
    ("tcp://127.0.0.1:port", "from 1 to 65535, got 'port'"),
    ("tcp://127.0.0.1", "has no port"),
    ("tcp://:8786", "is not a host name"),
    ("tcp://::1:8786", "IPv6 host in brackets"),
    ("127.0.0.1:8786", "like tcp://HOST:PORT"),
])
def test_a_malformed_address_is_a_usage_error_at_once(capsys, digits_model, address, says):
    start = time.monotonic()
    code, _, err = cli(capsys, "evaluate", digits_model, "--data", "digits", "--cluster",
                       address)
    assert code == 2 and time.monotonic() - start < 5
    assert says in err and "internal error" not in err


@pytest.fixture
def silent_server():
    """A loopback server that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_server_that_never_answers_times_out_as_a_refused_one_does(capsys, digits_model,
                                                                     silent_server):
    address, accepted = silent_server
    start = time.monotonic()
    code, _, err = cli(capsys, "evaluate", digits_model, "--data", "digits", "--cluster",
                       address, "--connect-timeout", "1")
    assert time.monotonic() - start < 20
    assert accepted  # it did connect: the handshake is what never came
    assert code == 1
    assert_one_line_error(err, f"Timed out trying to connect to {address} after 1 s")


def test_a_refused_port_fails_within_the_connect_timeout(capsys, digits_model):
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    code, _, err = cli(capsys, "evaluate", digits_model, "--data", "digits", "--cluster",
                       f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    assert code == 1 and time.monotonic() - start < 20
    assert_one_line_error(err, f"Timed out trying to connect to tcp://127.0.0.1:{port}")


def test_the_connect_timeout_must_be_a_positive_number(capsys, digits_model):
    for value in ("0", "-1", "soon", "inf", "nan"):
        code, _, err = cli(capsys, "evaluate", digits_model, "--data", "digits", "--cluster",
                           "tcp://127.0.0.1:8786", "--connect-timeout", value)
        assert code == 2 and "seconds > 0" in err


def test_workers_are_bounded_by_the_machine_unless_allowed(capsys, digits_model):
    too_many = worker_limit() + 1
    start = time.monotonic()
    code, _, err = cli(capsys, "evaluate", digits_model, "--data", "digits", "--workers",
                       too_many)
    assert code == 2 and time.monotonic() - start < 5
    assert f"--workers {too_many} would start {too_many} processes" in err
    assert "--allow-many-workers" in err
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    allowed = parser.parse_args(["--workers", str(too_many), "--allow-many-workers"])
    assert too_many_workers(allowed) is None
    assert too_many_workers(parser.parse_args(["--workers", str(worker_limit())])) is None


def test_the_readme_states_the_bound_and_the_timeout():
    from pathlib import Path

    from nablanet.distributed.cli import CONNECT_TIMEOUT_S, WORKERS_PER_CPU

    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert WORKERS_PER_CPU == 2 and "at most 2 processes per CPU" in readme
    assert CONNECT_TIMEOUT_S == 30 and "`--connect-timeout`, 30 s" in readme
