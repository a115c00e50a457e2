"""The ``export`` and ``convert`` commands, run through a parser holding only them."""

from __future__ import annotations

import argparse
import pickle
import warnings

import joblib
import numpy as np
import onnxruntime as ort
import pytest
import sklearn.neural_network as sknn
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import nablanet
from nablanet import MLPClassifier, Network
from nablanet.cli import export as commands
from nablanet.cli._common import UsageError

X, Y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)


RUN = {"export": commands.run_export, "convert": commands.run_convert}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nablanet")
    sub = parser.add_subparsers(dest="command", required=True)
    commands.add_export_parser(sub)
    commands.add_convert_parser(sub)
    args = parser.parse_args(argv)
    return RUN[args.command](args)


def test_the_command_line_registers_them(tmp_path, capsys):
    """Wired as the command line wires commands: the error conventions apply."""
    from nablanet.cli.main import Command, _run, build_parser

    parser = build_parser((Command(commands.add_export_parser, commands.run_export),
                           Command(commands.add_convert_parser, commands.run_convert)))
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted(sknn.MLPClassifier)))
    args = parser.parse_args(["convert", str(path), "--out", str(tmp_path / "m.npz")])
    assert _run(args) == 2
    assert "nablanet: error: refusing to load" in capsys.readouterr().err
    args = parser.parse_args(["export", str(tmp_path / "none.npz"), "--onnx",
                              str(tmp_path / "m.onnx")])
    assert _run(args) == 1


def fitted(cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0).fit(X, Y)


def onnx_run(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


def test_export_writes_an_onnx_file_that_predicts_the_same(tmp_path, capsys):
    est = fitted(MLPClassifier)
    est.save(tmp_path / "model.npz")
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "float32 graph, opset 17" in capsys.readouterr().out
    label, proba = onnx_run(tmp_path / "m.onnx", X.astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X))
    np.testing.assert_allclose(proba, est.predict_proba(X), atol=1e-5)
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "m64.onnx"),
                 "--float64", "--opset", "15"]) == 0
    assert "float64 graph, opset 15" in capsys.readouterr().out
    label, proba = onnx_run(tmp_path / "m64.onnx", X)
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-12)


def test_export_of_a_network_and_its_errors(tmp_path):
    net = Network([4, 3, 2], seed=0)
    net.save(tmp_path / "net.npz")
    assert main(["export", str(tmp_path / "net.npz"), "--onnx", str(tmp_path / "n.onnx")]) == 0
    (out,) = onnx_run(tmp_path / "n.onnx", X.astype(np.float32))
    np.testing.assert_allclose(out, net.forward(X), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="No such file or directory: .*missing.npz"):
        main(["export", str(tmp_path / "missing.npz"), "--onnx", str(tmp_path / "x.onnx")])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        main(["export", str(tmp_path / "net.npz"), "--onnx", str(tmp_path / "no/x.onnx")])
    with pytest.raises(ValueError, match="target_opset"):
        main(["export", str(tmp_path / "net.npz"), "--onnx", str(tmp_path / "x.onnx"),
              "--opset", "9"])
    assert not (tmp_path / "x.onnx").exists()


def test_convert_refuses_a_pickle_without_the_flag(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted(sknn.MLPClassifier)))
    with pytest.raises(UsageError, match="refusing to load .*model.pkl") as info:
        main(["convert", str(path), "--out", str(tmp_path / "model.npz")])
    message = str(info.value)
    assert "refusing to load" in message and "runs any code" in message
    assert "--trust-pickle" in message
    assert not (tmp_path / "model.npz").exists()


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_convert_a_scikit_learn_pickle(tmp_path, capsys, dump):
    sk = fitted(sknn.MLPClassifier)
    path = tmp_path / "model.pkl"
    if dump == "pickle":
        path.write_bytes(pickle.dumps(sk))
    else:
        joblib.dump(sk, path)
    out = tmp_path / "model.npz"
    assert main(["convert", str(path), "--out", str(out), "--trust-pickle"]) == 0
    assert "from scikit-learn's MLPClassifier" in capsys.readouterr().out
    est = nablanet.load(out)
    np.testing.assert_array_equal(est.predict(X), sk.predict(X))
    np.testing.assert_allclose(est.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-12)


def test_convert_a_pickled_nablanet_model_and_refuse_others(tmp_path):
    est = fitted(MLPClassifier)
    path = tmp_path / "ours.pkl"
    path.write_bytes(pickle.dumps(est))
    assert main(["convert", str(path), "--out", str(tmp_path / "ours.npz"), "--trust-pickle"]) == 0
    np.testing.assert_array_equal(nablanet.load(tmp_path / "ours.npz").predict_proba(X),
                                  est.predict_proba(X))
    path.write_bytes(pickle.dumps(StandardScaler().fit(X)))
    with pytest.raises(ValueError, match="holds a sklearn.preprocessing.*StandardScaler"):
        main(["convert", str(path), "--out", str(tmp_path / "x.npz"), "--trust-pickle"])
    with pytest.raises(FileNotFoundError, match="No such file: .*none.pkl"):
        main(["convert", str(tmp_path / "none.pkl"), "--out", str(tmp_path / "x.npz"),
              "--trust-pickle"])


def test_nablanet_main_has_export_and_convert(tmp_path, capsys):
    # Through the real entry point: the commands are registered in COMMANDS.
    from nablanet.cli.main import main as nablanet_main

    path = tmp_path / "m.npz"
    fitted(MLPClassifier).save(path)
    assert nablanet_main(["export", str(path), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0
    assert nablanet_main(["convert", str(path), "--out", str(tmp_path / "c.npz")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize(
    "obj, name",
    [(nablanet.ZCAWhitening().fit(X), "a nablanet.*ZCAWhitening"),  # a model without a network
     (sknn.MLPClassifier, "the class sklearn.*MLPClassifier")],  # the class, not a fitted instance
)
def test_convert_refuses_what_holds_no_network_as_a_user_error(tmp_path, obj, name):
    """A user's mistake: a ValueError naming the object (status 1), not an internal error."""
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps(obj))
    out = tmp_path / "x.npz"
    with pytest.raises(ValueError, match=f"holds {name}"):
        main(["convert", str(path), "--out", str(out), "--trust-pickle"])
    assert not out.exists()


def test_neither_command_writes_over_its_input(tmp_path):
    """The output named as the input would replace the model by another format."""
    est = fitted(MLPClassifier)
    model = tmp_path / "model.npz"
    est.save(model)
    saved = model.read_bytes()
    with pytest.raises(ValueError, match="is the input file"):
        main(["export", str(model), "--onnx", str(model)])
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(fitted(sknn.MLPClassifier)))
    pickled = pkl.read_bytes()
    with pytest.raises(ValueError, match="is the input file"):
        main(["convert", str(pkl), "--out", str(tmp_path / "." / "model.pkl"),
              "--trust-pickle"])
    assert model.read_bytes() == saved and pkl.read_bytes() == pickled


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"\x80\x04K", b"", bytes(range(256))])
def test_convert_of_a_file_that_is_not_a_pickle_is_a_user_error(tmp_path, content):
    # Found by the CLI fuzz test: joblib raised KeyError, reported as an internal error.
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable pickle"):
        main(["convert", str(path), "--out", str(tmp_path / "x.npz"), "--trust-pickle"])
    assert not (tmp_path / "x.npz").exists()


def test_convert_a_pickled_pipeline(tmp_path, capsys):
    """Fails on main: convert refused a pipeline ("for a pipeline, pickle its MLP step")."""
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline

    Xw, yw = load_wine(return_X_y=True, as_frame=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=30,
                                                             random_state=0)).fit(Xw, yw)
        theirs = make_pipeline(StandardScaler(), sknn.MLPClassifier((5,), max_iter=30,
                                                                    random_state=0)).fit(Xw, yw)
    for name, pipe in (("ours", ours), ("theirs", theirs)):
        path = tmp_path / f"{name}.pkl"
        joblib.dump(pipe, path)
        out = tmp_path / f"{name}.npz"
        assert main(["convert", str(path), "--out", str(out), "--trust-pickle"]) == 0
        assert "Pipeline of StandardScaler, MLPClassifier 13-5-3" in capsys.readouterr().out
        back = nablanet.load(out)
        np.testing.assert_array_equal(back.predict(Xw), pipe.predict(Xw))
        np.testing.assert_allclose(back.predict_proba(Xw), pipe.predict_proba(Xw), rtol=0,
                                   atol=1e-12)
        with pytest.raises(ValueError, match="holds a pipeline.*nablanet.to_onnx"):
            main(["export", str(out), "--onnx", str(tmp_path / "p.onnx")])


def test_convert_names_the_pipeline_step_it_cannot_keep(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(np.log1p), fitted(MLPClassifier))
    pipe[0].fit(X)
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(pipe))
    with pytest.raises(ValueError, match=r"step 'functiontransformer'.*identity.*skops"):
        main(["convert", str(path), "--out", str(tmp_path / "p.npz"), "--trust-pickle"])
    assert not (tmp_path / "p.npz").exists()


def test_convert_a_pickled_column_transformer(tmp_path, capsys):
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_wine

    Xw, _ = load_wine(return_X_y=True, as_frame=True)
    ct = ColumnTransformer([("scaled", StandardScaler(), ["alcohol", "hue"])],
                           remainder="passthrough").fit(Xw)
    path = tmp_path / "ct.pkl"
    joblib.dump(ct, path)
    assert main(["convert", str(path), "--out", str(tmp_path / "ct.npz"), "--trust-pickle"]) == 0
    assert "ColumnTransformer" in capsys.readouterr().out
    np.testing.assert_array_equal(nablanet.load(tmp_path / "ct.npz").transform(Xw),
                                  ct.transform(Xw))
