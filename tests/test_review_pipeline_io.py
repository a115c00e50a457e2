"""Review of pipelines in model files: settings that saved but did not load, or did not save."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.impute import MissingIndicator
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import nablanet


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
