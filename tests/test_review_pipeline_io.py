"""Review of pipelines in model files: settings that saved but did not load, or did not save."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_files import header_of, with_header
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.impute import MissingIndicator
from sklearn.preprocessing import MinMaxScaler, OrdinalEncoder, StandardScaler

import nablanet
from nablanet.io import ModelFileError


@pytest.fixture(scope="module")
def wine():
    X, _ = load_wine(return_X_y=True, as_frame=True)
    return X.iloc[:, :5]


def _round_trip(obj, path):
    nablanet.save(obj, path)
    return nablanet.load(path)


def test_a_missing_indicator_alone_loads(tmp_path):
    """It saved alone, then its file was refused as an unknown kind."""
    X = load_wine().data[:, :4].copy()
    X[X > np.median(X, axis=0)] = np.nan
    indicator = MissingIndicator(features="all").fit(X)
    back = _round_trip(indicator, tmp_path / "m.npz")
    np.testing.assert_array_equal(back.transform(X), indicator.transform(X))


@pytest.mark.parametrize("columns", [slice("alcohol", "ash"), pd.Index(["alcohol", "ash"])],
                         ids=["slice of names", "pandas Index"])
def test_column_selections_by_name_travel(wine, columns, tmp_path):
    """A slice of names saved but was refused on loading; a pandas Index did not save."""
    ct = ColumnTransformer([("s", StandardScaler(), columns)],
                           remainder=MinMaxScaler()).fit(wine)
    back = _round_trip(ct, tmp_path / "m.npz")
    np.testing.assert_array_equal(back.transform(wine), ct.transform(wine))
    np.testing.assert_array_equal(back.get_feature_names_out(), ct.get_feature_names_out())


def test_a_file_cannot_ask_for_more_workers_than_cpus(wine, tmp_path):
    """A file's n_jobs of a million had transform start a million worker processes."""
    ct = ColumnTransformer([("s", StandardScaler(), ["alcohol"])], remainder="drop",
                           n_jobs=1).fit(wine)
    nablanet.save(ct, tmp_path / "m.npz")
    assert nablanet.load(tmp_path / "m.npz").n_jobs == 1
    header = header_of(tmp_path / "m.npz")
    header["params"]["n_jobs"] = 10**6
    with_header(tmp_path / "m.npz", header)
    assert nablanet.load(tmp_path / "m.npz").n_jobs == -1  # every CPU, and no more


@pytest.mark.parametrize("pair", [[5, 0], [0, 9]], ids=["feature", "category"])
def test_an_ordinal_encoder_missing_index_past_its_categories_is_refused(pair, tmp_path):
    """It loaded, then transform (or inverse_transform) failed with a bare IndexError."""
    X = np.array([["a"], [np.nan], ["b"]], dtype=object)
    nablanet.save(OrdinalEncoder(encoded_missing_value=-1).fit(X), tmp_path / "m.npz")
    header = header_of(tmp_path / "m.npz")
    header["fitted"]["_missing_indices"] = [pair]
    with_header(tmp_path / "m.npz", header)
    with pytest.raises(ModelFileError, match=rf"_missing_indices names category {pair[1]} "
                                             rf"of feature {pair[0]}, which it lacks"):
        nablanet.load(tmp_path / "m.npz")
