"""Review finding (fixed): predictions of more than 256 rows fail in a thread that outlives
the main thread.

`chunks._share` submits to a `concurrent.futures.ThreadPoolExecutor`. When the main thread
finishes, Python runs concurrent.futures' exit hook (before it joins the other non-daemon
threads), and from then on every ``submit`` raises ``RuntimeError: cannot schedule new
futures after (interpreter) shutdown``. A script that starts a worker/server thread and lets
its main thread end - a common shape - then gets that RuntimeError from ``net.forward`` (any
estimator's ``predict``) on more than 256 rows (two parts or more, BLAS on 2+ threads), where
the same call worked a moment before; a convolutional network's training steps in such a
thread fail the same way (`run_chunks`). Before this change `forward` used no pool.

The same in an ``atexit`` handler (which runs after that hook): a script that writes its
predictions at exit gets ``RuntimeError: cannot schedule new futures after interpreter
shutdown``.

Right behaviour: when the pool cannot take work, the parts run in the calling thread (one
pass after another: the same bits), instead of failing the prediction.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import threading, time
    import concurrent.futures.thread as cft
    import numpy as np
    from threadpoolctl import threadpool_limits
    from nablanet import Network

    threadpool_limits(limits=2)
    net = Network([784, 100, 10], activation="relu", output_activation="softmax", seed=0)
    X = np.random.default_rng(0).random((3000, 784))
    expected = net.forward(X)

    def worker():  # goes on after the main thread has finished
        while not cft._shutdown:
            time.sleep(0.01)
        try:
            close = np.allclose(net.forward(X), expected, rtol=1e-9, atol=1e-12)
            print("close" if close else "differs")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")

    threading.Thread(target=worker).start()
""")


def test_a_thread_can_predict_after_the_main_thread_has_finished():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # Before the fix: "RuntimeError: cannot schedule new futures after shutdown"
    assert done.stdout.strip() == "close"


AT_EXIT = textwrap.dedent("""
    import atexit
    import numpy as np
    from threadpoolctl import threadpool_limits
    from nablanet import Network

    threadpool_limits(limits=2)
    net = Network([784, 100, 10], activation="relu", output_activation="softmax", seed=0)
    X = np.random.default_rng(0).random((3000, 784))
    expected = net.forward(X)

    def write_predictions():
        try:
            print("same" if np.array_equal(net.forward(X), expected) else "differs")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")

    atexit.register(write_predictions)
""")


def test_an_atexit_handler_can_predict():
    done = subprocess.run([sys.executable, "-c", AT_EXIT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # Before the fix: "RuntimeError: cannot schedule new futures after interpreter shutdown"
    assert done.stdout.strip() == "same"
