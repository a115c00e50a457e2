"""nablanet.distributed without a cluster: dask's local scheduler, readers and CLI pieces."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from nablanet import Network, check_gradient

da = pytest.importorskip("dask.array")

from nablanet.distributed import DaskObjective, from_npy, is_dask, local_sgd  # noqa: E402
from nablanet.distributed._blocks import aligned, tree_sum  # noqa: E402
from nablanet.distributed.cli import (  # noqa: E402
    add_cluster_arguments,
    cluster_from_args,
    read_distributed,
    round_logger,
)


def _iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), np.eye(3)[y]


def test_importing_the_package_starts_nothing_and_imports_no_dask():
    code = (
        "import sys, nablanet, nablanet.distributed, nablanet.training, nablanet.estimators;"
        "print('dask' in sys.modules, 'distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    import nablanet.distributed as nd

    with pytest.raises(AttributeError, match="DaskObjective"):
        nd.NoSuchThing  # noqa: B018


def test_local_scheduler_objective_equals_single_process_float32_and_weights():
    X, Y = _iris()
    s = np.linspace(0.0, 2.0, 150)  # the first row weighs nothing
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        net = Network([4, 5, 3], output_activation="softmax", weight_decay=0.1, seed=0,
                      dtype=dtype)
        obj = DaskObjective(net, da.from_array(X, chunks=(1, 4)), da.from_array(Y, chunks=50),
                            da.from_array(s, chunks=150), persist=False)
        assert obj.n_blocks == 150 and obj.n_samples == 150
        J, g = obj(net.theta)
        J0, g0 = net.loss_and_grad(X, Y, sample_weight=s)
        assert g.dtype == dtype
        assert abs(J - J0) <= tol * abs(J0)
        assert np.linalg.norm(g - g0) <= tol * np.linalg.norm(g0)
    net = net.astype(np.float64)
    report = check_gradient(
        DaskObjective(net, da.from_array(X, chunks=37), da.from_array(Y, chunks=37)),
        net.theta.copy(),
    )
    assert report.passed


def test_objective_refuses_bad_inputs_with_precise_messages():
    X, Y = _iris()
    net = Network([4, 5, 3], output_activation="softmax", seed=0)
    Xd, Yd = da.from_array(X, chunks=50), da.from_array(Y, chunks=50)
    with pytest.raises(ValueError, match="X must have 4 columns"):
        DaskObjective(net, Xd[:, :3], Yd)
    with pytest.raises(ValueError, match="Y must have 3 columns"):
        DaskObjective(net, Xd, Yd[:, :2])
    with pytest.raises(ValueError, match="has 100 rows, X has 150"):
        DaskObjective(net, Xd, Yd[:100])
    with pytest.raises(TypeError, match="dask array"):
        DaskObjective(net, X, Yd)
    with pytest.raises(ValueError, match="sums to 0"):
        DaskObjective(net, Xd, Yd, da.zeros(150, chunks=50))(net.theta)
    bad = X.copy()
    bad[77, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DaskObjective(net, da.from_array(bad, chunks=50), Yd)(net.theta)
    with pytest.raises(ValueError, match="theta must have shape"):
        DaskObjective(net, Xd, Yd)(net.theta[:-1])


def test_tree_sum_has_a_fixed_shape():
    import dask

    parts = [dask.delayed(np.float64)(v) for v in (1e16, 1.0, -1e16, 1.0, 3.0)]
    # ((a + b) + (c + d)) + e, always; adding left to right would give 4 (1e16 + 1 and
    # -1e16 + 1 both round to even at this magnitude), so the order shows in the bits.
    (total,) = dask.compute(tree_sum(parts, lambda a, b: a + b))
    assert total == ((1e16 + 1.0) + (-1e16 + 1.0)) + 3.0 == 3.0
    assert (((1e16 + 1.0) + -1e16) + 1.0) + 3.0 == 4.0


def test_aligned_copies_only_when_needed():
    raw = np.zeros(160, dtype=np.uint8)
    start = -raw.ctypes.data % 64 + 8  # deliberately 8 bytes off a 64-byte boundary
    A = raw[start : start + 48].view(np.float64).reshape(2, 3)
    A[...] = np.arange(6.0).reshape(2, 3)
    B = aligned(A, np.float64)
    assert B.ctypes.data % 64 == 0 and B is not A
    np.testing.assert_array_equal(B, A)
    assert aligned(B, np.float64) is B
    assert aligned(B, np.float32).dtype == np.float32


def test_from_npy_reads_rows_on_the_workers(tmp_path):
    A = np.arange(70.0).reshape(35, 2)
    np.save(tmp_path / "a.npy", A)
    D = from_npy(tmp_path / "a.npy", 10)
    assert D.chunks == ((10, 10, 10, 5), (2,))
    assert "ndarray" not in repr(D.__dask_graph__().values())  # a recipe, not the data
    np.testing.assert_array_equal(D.compute(), A)
    with pytest.raises(ValueError, match="rows_per_block"):
        from_npy(tmp_path / "a.npy", 0)


def test_train_on_dask_arrays_without_a_cluster():
    from nablanet import train

    X, Y = _iris()
    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    ref = net.copy()
    h = train(net, da.from_array(X, chunks=60), da.from_array(Y, chunks=60), optimizer="lbfgs",
              epochs=10)
    h0 = train(ref, X, Y, optimizer="lbfgs", epochs=10)
    np.testing.assert_allclose(h.train_loss, h0.train_loss, rtol=1e-10)


def test_local_sgd_without_a_cluster_and_its_checks():
    X, Y = _iris()
    Xd, Yd = da.from_array(X, chunks=50), da.from_array(Y, chunks=50)
    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    lines = io.StringIO()
    r = local_sgd(net, Xd, Yd, optimizer="sgd", sync_every=2, epochs=2, batch_size=10,
                  learning_rate=0.1, progress=round_logger(lines))
    assert r.rounds == 2 * 3 and len(r.train_loss) == 2  # ⌈⌈50/10⌉/2⌉ = 3 per epoch
    assert lines.getvalue().splitlines()[0].startswith("epoch 1  round 1/3  loss ")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="sync_every"):
            local_sgd(net, Xd, Yd, sync_every=bad)
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        local_sgd(net, Xd, Yd, optimizer="lbfgs")


def test_k1_local_sgd_with_one_block_is_minibatch_sgd():
    # One block, K = 1: the average of one block is that block, so local SGD is plain
    # minibatch SGD over that block's shuffled batches, step for step.
    X, Y = _iris()
    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    ref = net.copy()
    local_sgd(net, da.from_array(X, chunks=150), da.from_array(Y, chunks=150),
              optimizer="sgd", sync_every=1, epochs=1, batch_size=30, learning_rate=0.1, seed=4)
    from nablanet.optim import get_optimizer

    opt = get_optimizer("sgd")
    state = opt.init(ref.theta)
    order = np.random.default_rng([4, 0, 0]).permutation(150)
    for i in range(0, 150, 30):
        _, g = ref.loss_and_grad(X[order[i : i + 30]], Y[order[i : i + 30]])
        opt.step(ref.theta, g, state, 0.1)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-12, atol=1e-15)


def test_is_dask():
    assert is_dask(da.zeros(3)) and not is_dask(np.zeros(3)) and not is_dask([1])


# --- the command-line pieces ------------------------------------------------------------


def _parser():
    p = argparse.ArgumentParser()
    add_cluster_arguments(p)
    return p


def test_cluster_flags_parse_and_conflict(capsys):
    args = _parser().parse_args([])
    assert args.workers is None and args.cluster is None
    assert _parser().parse_args(["--workers", "2"]).workers == 2
    assert _parser().parse_args(["--cluster", "tcp://127.0.0.1:8786"]).cluster == "tcp://127.0.0.1:8786"
    refused = [
        (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (["--workers", "x"], "argument --workers: expected a whole number, got 'x'"),
        (["--cluster", "127.0.0.1:8786"], "expected a scheduler address like tcp://HOST:PORT"),
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:1"],
         "argument --cluster: not allowed with argument --workers"),
    ]
    for argv, message in refused:
        with pytest.raises(SystemExit, match="^2$"):  # argparse's usage error
            _parser().parse_args(argv)
        assert message in capsys.readouterr().err


def test_no_cluster_flag_yields_no_client():
    with cluster_from_args(_parser().parse_args([])) as client:
        assert client is None


def test_workers_flag_starts_a_local_cluster_and_stops_it():
    args = _parser().parse_args(["--workers", "1", "--memory-limit", "512MiB"])
    with cluster_from_args(args) as client:
        info = client.scheduler_info()
        (worker,) = info["workers"].values()
        assert worker["memory_limit"] == 512 * 2**20
        assert worker["host"] == "127.0.0.1"
        assert da.arange(10, chunks=5).sum().compute() == 45
    assert client.status == "closed"


def test_read_distributed_npy_shards(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(n, 4)) for n in (7, 5)]
    (tmp_path / "shards").mkdir()
    for i, p in enumerate(parts):
        np.save(tmp_path / "shards" / f"part-{i}.npy", p)
    table = np.vstack(parts)
    X, y = read_distributed(tmp_path / "shards", target=1, rows_per_block=4)
    assert X.chunks[0] == (4, 3, 4, 1)
    np.testing.assert_array_equal(X.compute(), table[:, [0, 2, 3]])
    np.testing.assert_array_equal(y.compute(), table[:, 1])
    with pytest.raises(ValueError, match="index"):
        read_distributed(tmp_path / "shards", target="label")
    with pytest.raises(ValueError, match="out of range"):
        read_distributed(tmp_path / "shards", target=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .npy shards"):
        read_distributed(tmp_path / "empty")


def test_read_distributed_csv_glob_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2,
                          "label": ["x", "y"] * 5})
    frame[:6].to_csv(tmp_path / "p-0.csv", index=False)
    frame[6:].to_csv(tmp_path / "p-1.csv", index=False)
    X, y = read_distributed(str(tmp_path / "p-*.csv"), target="label")
    assert X.shape == (10, 2) and not np.isnan(X.chunks[0]).any()
    np.testing.assert_array_equal(X.compute(), frame[["a", "b"]].to_numpy())
    assert list(y.compute()) == list(frame["label"])
    with pytest.raises(ValueError, match="the columns are: a, b, label"):
        read_distributed(str(tmp_path / "p-*.csv"), target="nope")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_distributed(str(tmp_path / "q-*.csv"))
    pytest.importorskip("pyarrow")
    frame.to_parquet(tmp_path / "t.parquet")
    X, y = read_distributed(str(tmp_path / "t.parquet"), target=0)
    np.testing.assert_array_equal(y.compute(), frame["a"].to_numpy())
    assert X.shape == (10, 2)


def test_a_warm_start_on_the_cluster_trains_the_fitted_weights_once():
    # the cluster fit is the estimator's own path: a warm start trains on from the fitted
    # network, as in memory, instead of throwing it away for fresh restarts
    from nablanet import MLPClassifier

    X, Y = _iris()
    y = Y.argmax(axis=1)
    Xd, yd = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    est = MLPClassifier((4,), solver="lbfgs", max_iter=5, restarts=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est.fit(Xd, yd)
    assert len(est.history_.runs) == 2
    est.set_params(warm_start=True)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est.fit(Xd, yd)
    assert len(est.history_.runs) == 1 and est.history_.runs[0].seed is None


def test_partial_fit_on_dask_arrays_is_refused_before_it_reads_a_row():
    from nablanet import MLPClassifier

    X, Y = _iris()
    est = MLPClassifier((4,), solver="adam")
    with pytest.raises(ValueError, match="only 'lbfgs' trains on a cluster through fit"):
        est.partial_fit(da.from_array(X, chunks=50), da.from_array(Y.argmax(1), chunks=50),
                        classes=[0, 1, 2])
    assert not hasattr(est, "net_")
