"""Review finding (fixed): a process forked while another thread holds BLAS stays on one
BLAS thread for good.

`chunks.holding_blas` counts holders in module globals (``_holders``, ``_saved``). A child
forked (multiprocessing's default start on Linux, os.fork, a forking server) while another
thread of the parent is inside a hold - a prediction of more than a few dozen rows, or any
convolutional network's pass - inherits ``_holders == 1`` and OpenBLAS on 1 thread, but not
the holding thread. That holder never leaves in the child, so ``_holders`` never returns to
0: the child's own holds neither save nor restore, and the child computes on one BLAS
thread for its whole life (its fits see 1 thread and never adapt). `_executor` already
knows about forks (``_pool_pid``); the hold's state does not.

Right behaviour: ``os.register_at_fork(after_in_child=...)`` resets the hold in the child:
no holders, and BLAS's count back to the saved one (also a fresh ``_lock``, which a fork can
otherwise inherit taken).
"""

import os
import sys
import threading

import pytest

from nablanet._blas import numpy_blas
from nablanet.layers import chunks


def _lib():
    return numpy_blas().lib_controllers[0]


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork")
def test_a_child_forked_during_a_hold_gets_blas_threads_back():
    from threadpoolctl import OpenBLASController

    lib = _lib()
    if not hasattr(lib, "_real_set_num_threads"):
        pytest.skip("not OpenBLAS")
    before = lib.num_threads
    lib._real_set_num_threads(2)
    OpenBLASController.clear_controlling_thread(force=True)  # the holder below may set it
    entered, leave = threading.Event(), threading.Event()

    def predicting():
        with chunks.holding_blas():
            entered.set()
            leave.wait(5)

    holder = threading.Thread(target=predicting)
    holder.start()
    try:
        assert entered.wait(5)
        assert lib.num_threads == 1  # held by the other thread
        pid = os.fork()
        if pid == 0:  # the child: its own prediction, then its BLAS count
            code = 1
            try:
                with chunks.holding_blas():
                    pass
                code = 0 if lib.num_threads == 2 else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        leave.set()
        holder.join(5)
        OpenBLASController.clear_controlling_thread(force=True)
        lib._real_set_num_threads(before)
    # Before the fix: exit code 3: the child's BLAS stayed on 1 thread after its own hold.
    assert os.waitstatus_to_exitcode(status) == 0
