"""Issue 20: a model that knows its data (columns by name, scaling, text, missing cells,
identifiers, several targets) and the first day's rough edges of the command line."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import assert_one_line_error, cli, printed_float

import nablanet
from nablanet.io import read_metadata


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """Wine with the class first (``cultivar``), and a model trained on it by the CLI."""
    from sklearn.datasets import load_wine

    folder = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame = frame[["cultivar", *[c for c in frame.columns if c != "cultivar"]]]
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    model = folder / "wine.npz"
    code = nablanet.cli.main(["train", "--data", str(path), "--target", "cultivar",
                              "--out", str(model), "-q"])
    assert code == 0
    return frame, path, model


def predictions(capsys, model, data, *flags):
    code, out, err = cli(capsys, "predict", model, "--data", data, *flags)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], [r[0] for r in rows[1:]], err


def test_model_file_keeps_the_columns(wine):
    frame, _, model = wine
    spec = read_metadata(model)["columns"]
    assert [f["name"] for f in spec["features"]] == list(frame.columns[1:])
    assert {f["kind"] for f in spec["features"]} == {"number"}
    assert spec["targets"] == ["cultivar"] and spec["header"] is True


def test_columns_in_another_order_predict_the_same(wine, tmp_path, capsys):
    # was: exit 0 and 31% of the predictions agreeing with those on the columns in order
    frame, path, model = wine
    in_order = tmp_path / "in_order.csv"
    frame[frame.columns[1:]].to_csv(in_order, index=False)
    reordered = tmp_path / "reordered.csv"
    frame[list(frame.columns[1:])[::-1]].to_csv(reordered, index=False)
    _, expected, _ = predictions(capsys, model, in_order)
    _, got, _ = predictions(capsys, model, reordered)
    assert got == expected
    assert np.mean(np.array(got).astype(int) == frame["cultivar"].to_numpy()) > 0.95


def test_training_file_without_target_flag(wine, tmp_path, capsys):
    # was: predict read cultivar as a feature and dropped proline (71 of 178 right), and
    # evaluate printed "accuracy 0.0000" over a 130-row table of proline values
    frame, path, model = wine
    features = tmp_path / "features.csv"
    frame[frame.columns[1:]].to_csv(features, index=False)
    _, expected, _ = predictions(capsys, model, features)
    header, got, err = predictions(capsys, model, path)
    assert header == ["prediction"] and got == expected
    assert "ignoring" not in err  # the target column is not an extra column
    code, out, _ = cli(capsys, "evaluate", model, "--data", path, "--json")
    import json

    result = json.loads(out)
    assert code == 0 and result["classes"] == ["0", "1", "2"] or result["classes"] == [0, 1, 2]
    assert result["accuracy"] > 0.95 and result["n_samples"] == 178


def test_extra_and_missing_columns(wine, tmp_path, capsys):
    frame, _, model = wine
    extra = tmp_path / "extra.csv"
    frame.assign(batch="a", note="x").drop(columns="cultivar").to_csv(extra, index=False)
    _, _, err = predictions(capsys, model, extra)
    assert "ignoring columns the model does not read: batch, note" in err
    missing = tmp_path / "missing.csv"
    frame.drop(columns=["cultivar", "proline"]).to_csv(missing, index=False)
    code, _, err = cli(capsys, "predict", model, "--data", missing)
    assert code == 1
    assert_one_line_error(err, "no column 'proline'", "which the model reads")
    code, _, err = cli(capsys, "evaluate", model, "--data", extra)
    assert code == 1
    assert_one_line_error(err, "no target column 'cultivar'", "nablanet predict")


def test_headerless_file_by_position_only_when_the_width_matches(wine, tmp_path, capsys):
    frame, _, model = wine
    bare = tmp_path / "bare.csv"
    frame[frame.columns[1:]].to_csv(bare, index=False, header=False)
    _, got, err = predictions(capsys, model, bare)
    assert "no header row" in err and "taken by position" in err
    assert np.mean(np.array(got).astype(int) == frame["cultivar"].to_numpy()) > 0.95
    narrow = tmp_path / "narrow.csv"
    frame[frame.columns[1:5]].to_csv(narrow, index=False, header=False)
    code, _, err = cli(capsys, "predict", model, "--data", narrow)
    assert code == 1
    assert_one_line_error(err, "no header row and 4 columns", "13 feature columns")


def test_headerless_training_file_is_read_in_its_own_order(wine, tmp_path, capsys):
    # the target first: evaluate on the training file itself takes it from there, not last
    frame, _, _ = wine
    bare = tmp_path / "bare.csv"
    frame.to_csv(bare, index=False, header=False)
    model = tmp_path / "bare.npz"
    code, _, err = cli(capsys, "train", "--data", bare, "--target", "0", "--out", model, "-q")
    assert code == 0, err
    code, out, err = cli(capsys, "evaluate", model, "--data", bare)
    assert code == 0 and "taken by position as x0, x1" in err
    assert printed_float(r"accuracy ([0-9.]+)", out) > 0.95


def test_features_are_standardised_by_default(wine, tmp_path, capsys):
    # was 0.933 with the CLI's defaults (raw features) against 1.000 for StandardScaler +
    # scikit-learn's MLP on the same split
    frame, path, model = wine
    code, out, _ = cli(capsys, "train", "--data", path, "--target", "cultivar", "-q")
    assert code == 0 and printed_float(r"test accuracy: ([0-9.]+)", out) >= 0.97
    # the scaling travels in the model file: in Python it loads as the pipeline, which
    # reads raw rows, a DataFrame's columns by name (a missing one raises)
    pipeline = nablanet.load(model)
    X = frame[frame.columns[1:]]
    _, got, _ = predictions(capsys, model, path)
    assert pipeline.predict(X).astype(str).tolist() == got
    assert pipeline.predict(X[X.columns[::-1]]).astype(str).tolist() == got
    with pytest.raises(ValueError, match="proline"):
        pipeline.predict(X.drop(columns="proline"))
    # --no-scale trains on the raw features, as before
    code, out, _ = cli(capsys, "train", "--data", path, "--target", "cultivar", "--no-scale",
                       "-q")
    assert code == 0 and printed_float(r"test accuracy: ([0-9.]+)", out) < 0.97


@pytest.fixture
def messy(tmp_path):
    """A table with a text column, missing cells of every spelling and a patient ID."""
    rng = np.random.default_rng(0)
    m = 120
    color = rng.choice(["red", "green", "blue"], m)
    size = rng.normal(size=m)
    label = np.where((color == "red") ^ (size > 0), "yes", "no")
    cells = [f"{v:.3f}" for v in size]
    for i, spelling in zip(range(3, 60, 12), ["", "NA", "NaN", "?", "null"], strict=True):
        cells[i] = spelling
    colors = color.tolist()
    colors[7] = "NA"
    frame = pd.DataFrame({"patient_id": rng.permutation(m) + 1000, "color": colors,
                          "size": cells, "label": label})
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_text_missing_and_identifier_columns(messy, tmp_path, capsys):
    # was: "row 2, column 'color' (index 1): 'red' is not a finite number"
    path, frame = messy
    model = tmp_path / "m.npz"
    code, out, err = cli(capsys, "train", "--data", path, "--out", model, "--epochs", "300")
    assert code == 0, err
    assert "dropping identifier column 'patient_id'" in err and "--keep patient_id" in err
    assert printed_float(r"test accuracy: ([0-9.]+)", out) >= 0.85
    spec = read_metadata(model)["columns"]
    assert [(f["name"], f["kind"]) for f in spec["features"]] == [("color", "text"),
                                                                    ("size", "number")]
    assert spec["dropped"] == ["patient_id"]
    # new rows in another order, an unseen category, a missing cell, no label column
    new = tmp_path / "new.csv"
    new.write_text("size,color\n0.5,red\n-0.5,purple\n,green\n")
    header, got, err = predictions(capsys, model, new)
    assert header == ["prediction"] and len(got) == 3 and set(got) <= {"yes", "no"}
    assert "not seen in training" in err and "color ('purple')" in err


def test_no_impute_and_drop_keep(messy, tmp_path, capsys):
    path, _ = messy
    code, _, err = cli(capsys, "train", "--data", path, "--no-impute", "--epochs", "1", "-q")
    assert code == 1
    assert_one_line_error(err, "row 5, column 'size'", "missing value", "--drop",
                          "leave out --no-impute")
    code, _, err = cli(capsys, "train", "--data", path, "--keep", "patient_id",
                       "--drop", "color", "--epochs", "1", "--out", tmp_path / "k.npz")
    assert code == 0 and "dropping identifier" not in err
    names = [f["name"] for f in read_metadata(tmp_path / "k.npz")["columns"]["features"]]
    assert names == ["patient_id", "size"]
    code, _, err = cli(capsys, "train", "--data", path, "--drop", "colour")
    assert code == 2 and "no column 'colour'" in err


def test_too_many_categories_is_refused_with_the_remedy(tmp_path, capsys):
    path = tmp_path / "many.csv"
    rows = [f"c{i % 150},{i % 7},{i % 2}" for i in range(300)]
    path.write_text("code,x,y\n" + "\n".join(rows) + "\n")
    code, _, err = cli(capsys, "train", "--data", path, "--epochs", "1")
    assert code == 1
    assert_one_line_error(err, "text column 'code' has 150 categories", "--drop code")


def test_several_targets(tmp_path, capsys):
    # was: "no column named 'Weight,Waist,Pulse'", and two --target flags kept the last
    from sklearn.datasets import load_linnerud

    path = tmp_path / "linnerud.csv"
    load_linnerud(as_frame=True).frame.to_csv(path, index=False)
    model = tmp_path / "l.npz"
    code, out, err = cli(capsys, "train", "--data", path, "--target", "Weight,Waist",
                         "--target", "Pulse", "--epochs", "20", "--out", model)
    assert code == 0, err
    assert "multi-output regression" in err
    assert [line.split(":")[0] for line in out.splitlines()[:3]] == ["Weight", "Waist", "Pulse"]
    assert read_metadata(model)["columns"]["targets"] == ["Weight", "Waist", "Pulse"]
    header, _, _ = predictions(capsys, model, path)
    assert header == ["Weight", "Waist", "Pulse"]


def test_several_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    path = tmp_path / "labels.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "p": (X[:, 0] > 0).astype(int),
                  "q": (X[:, 1] + X[:, 2] > 0).astype(int)}).to_csv(path, index=False)
    model = tmp_path / "pq.npz"
    code, out, err = cli(capsys, "train", "--data", path, "--target", "p,q", "--out", model)
    assert code == 0 and "multi-label classification" in err
    assert printed_float(r"^p: accuracy ([0-9.]+)", out) > 0.9
    header, first, _ = predictions(capsys, model, path)
    assert header == ["p", "q"] and set(first) == {"0", "1"}


def test_target_named_in_a_header_of_numbers(tmp_path, capsys):
    # issue 19 item 5: "0,1,2,species" over three distinct labels was taken for data
    path = tmp_path / "numbered.csv"
    path.write_text("0,1,2,species\n1,2,3,setosa\n4,5,6,versicolor\n7,8,9,virginica\n")
    X, y, names = nablanet.data.read_csv(path, target="species")
    assert names == ["0", "1", "2"] and X.shape == (3, 3)
    assert y.tolist() == ["setosa", "versicolor", "virginica"]
    # the name must be the user's: without it the first row stays data
    X, y, _ = nablanet.data.read_csv(path, target=-1)
    assert X.shape == (4, 3) and y[0] == "species"
    code, _, err = cli(capsys, "train", "--data", path, "--target", "species", "--epochs", "1",
                       "--test-fraction", "0")
    assert code == 0, err
    assert "(3 rows" in err


def test_test_out_rows_score_with_evaluate(wine, tmp_path, capsys):
    frame, path, _ = wine
    model, held = tmp_path / "w.npz", tmp_path / "held.csv"
    code, out, err = cli(capsys, "train", "--data", path, "--target", "cultivar", "--out",
                         model, "--test-out", held, "-q")
    assert code == 0, err
    accuracy = printed_float(r"test accuracy: ([0-9.]+) \(45 samples\)", out)
    held_rows = pd.read_csv(held)
    assert held_rows.shape == (45, 14)
    code, out, _ = cli(capsys, "evaluate", model, "--data", held)
    assert code == 0 and printed_float(r"accuracy ([0-9.]+)", out) == pytest.approx(accuracy)


def test_a_test_part_too_small_for_r2_says_so(tmp_path, capsys):
    # was "test R²: nan" with exit 0
    path = tmp_path / "tiny.csv"
    path.write_text("x,y\n1,0.5\n2,1.5\n3,2.5\n4,3.25\n")
    code, out, _ = cli(capsys, "train", "--data", path, "--task", "regress", "--epochs", "2",
                       "--test-fraction", "0.2")
    assert code == 0 and "nan" not in out
    assert "the test part has 1 row and R² needs at least 2" in out


def test_progress_without_a_terminal_every_tenth(wine, capsys):
    # was one line per epoch: 200 lines
    _, path, _ = wine
    code, _, err = cli(capsys, "train", "--data", path, "--target", "cultivar",
                       "--epochs", "100", "--patience", "100")
    assert code == 0
    epochs = [line for line in err.splitlines() if line.startswith("run 1  epoch")]
    assert 10 <= len(epochs) <= 11 and epochs[0].startswith("run 1  epoch 10 ")


def test_early_stopping_says_why(wine, capsys):
    _, path, _ = wine
    code, _, err = cli(capsys, "train", "--data", path, "--target", "cultivar",
                       "--early-stopping", "--patience", "3")
    assert code == 0
    assert "early stopping after" in err and "did not improve for 3 epochs" in err


def test_interrupted_training_saves_and_exits_130(wine, tmp_path, capsys, monkeypatch):
    from nablanet.cli import train
    from nablanet.training import Callback

    class Interrupt(Callback):
        def on_epoch_end(self, state):
            if state.epoch == 4:
                raise KeyboardInterrupt

    monkeypatch.setattr(train, "progress_callbacks", lambda quiet, epochs: [Interrupt()])
    _, path, _ = wine
    model = tmp_path / "i.npz"
    code, out, err = cli(capsys, "train", "--data", path, "--target", "cultivar", "--out",
                         model)
    assert code == 130
    assert "model written" in out and nablanet.load(model)[-1].n_iter_ == 4
    assert "training interrupted after 4 epochs" in err


def test_info_quotes_class_names_with_commas(tmp_path, capsys):
    path = tmp_path / "buy.csv"
    rows = [f"{i % 7},{i % 3},\"{'yes, buy' if i % 2 else 'no, skip'}\"" for i in range(40)]
    path.write_text("a,b,decision\n" + "\n".join(rows) + "\n")
    model = tmp_path / "b.npz"
    assert cli(capsys, "train", "--data", path, "--epochs", "1", "--out", model, "-q")[0] == 0
    code, out, _ = cli(capsys, "info", model)
    assert code == 0 and 'classes: "no, skip", "yes, buy"' in out
    assert "reads columns: a (number), b (number)" in out and "predicts: decision" in out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_pipeline_saved_in_python_predicts_from_the_command_line(wine, tmp_path, capsys):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, path, _ = wine
    X, y = frame[frame.columns[1:]], frame["cultivar"].to_numpy()
    pipeline = make_pipeline(StandardScaler(), nablanet.MLPClassifier(random_state=0))
    pipeline.fit(X, y)
    model = tmp_path / "p.npz"
    nablanet.save(pipeline, model)
    reordered = tmp_path / "reordered.csv"
    X[X.columns[::-1]].to_csv(reordered, index=False)
    _, got, _ = predictions(capsys, model, reordered)
    assert got == pipeline.predict(X).astype(str).tolist()
    code, out, _ = cli(capsys, "evaluate", model, "--data", path, "--target", "cultivar")
    assert code == 0 and printed_float(r"accuracy ([0-9.]+)", out) == pipeline.score(X, y)


def test_a_table_model_is_not_run_on_workers_without_its_preprocessing(wine, capsys):
    _, path, model = wine
    for command in ("predict", "evaluate"):
        code, _, err = cli(capsys, command, model, "--data", path, "--workers", "1")
        assert code == 2
        assert_one_line_error(err, "preprocesses a table's columns", "--workers/--cluster")


def test_export_writes_a_table_models_whole_pipeline(messy, tmp_path, capsys):
    # the model file is a pipeline; its columns' kinds come from the file's contract
    import onnx
    import onnxruntime as ort

    from nablanet.export.pipelines import onnx_inputs

    path, frame = messy
    frame = frame.assign(size=pd.to_numeric(frame["size"], errors="coerce").fillna(0.5))
    full = tmp_path / "full.csv"
    frame.to_csv(full, index=False)  # missing text only: skl2onnx converts that imputer
    model, graph = tmp_path / "m.npz", tmp_path / "m.onnx"
    assert cli(capsys, "train", "--data", full, "--out", model, "--epochs", "50", "-q")[0] == 0
    code, out, err = cli(capsys, "export", model, "--onnx", graph)
    assert code == 0, err
    assert "Pipeline of ColumnTransformer, MLPClassifier" in out and "inputs color, size" in out
    X = frame[["color", "size"]].replace({"color": {"NA": None}})
    onx = onnx.load(graph)
    labels = ort.InferenceSession(onx.SerializeToString()).run(None, onnx_inputs(onx, X))[0]
    assert labels.ravel().tolist() == nablanet.load(model).predict(X).tolist()
