"""TabularPreprocessor: codes with 0 for unknown, median fill + flags, scaling, persistence."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.preprocess import TabularPreprocessor


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame({
        "Store": np.array([3, 1, 2, 1], np.int32),
        "StoreType": pd.array(["b", "a", "a", None], dtype="str"),
        "State": pd.Categorical(["HE", "BY", "HE", "HB,NI"]),
        "StateHoliday": [False, True, False, False],
        "Dist": [10.0, np.nan, 30.0, 50.0],
        "Temp": [1.0, 2.0, 3.0, 4.0],
    })


def fitted(train: pd.DataFrame) -> TabularPreprocessor:
    return TabularPreprocessor(["Store", "StoreType", "State", "StateHoliday"], ["Dist", "Temp"]).fit(train)


def test_params_only_in_init():
    p = TabularPreprocessor(["a"], ["b"])
    assert vars(p) == {"cat_cols": ["a"], "cont_cols": ["b"], "log_cols": [], "na_flag_min_rate": 0.0,
                       "clip": False}
    with pytest.raises(RuntimeError):
        p.transform(pd.DataFrame({"a": [1], "b": [1.0]}))


def test_codes_reserve_zero_for_unknown_and_missing(train):
    p = fitted(train)
    cats, conts = p.transform(train)
    assert cats.dtype == np.int64 and conts.dtype == np.float32
    assert cats[:, 0].tolist() == [3, 1, 2, 1]           # sorted categories get 1..k
    assert cats[:, 1].tolist() == [2, 1, 1, 0]           # None -> 0
    assert cats[:, 2].tolist() == [3, 1, 3, 2]
    assert cats[:, 3].tolist() == [1, 2, 1, 1]
    assert p.cardinalities_ == {"Store": 4, "StoreType": 3, "State": 4, "StateHoliday": 3}
    new = pd.DataFrame({"Store": np.array([99, 2], np.int64), "StoreType": ["z", "b"],
                        "State": ["XX", "HE"], "StateHoliday": [True, np.nan], "Dist": [np.nan, 1.0],
                        "Temp": [np.nan, 2.5]})
    cats, _ = p.transform(new)
    assert cats.tolist() == [[0, 0, 0, 2], [2, 2, 3, 0]]  # unseen and missing -> 0


def test_median_fill_flags_and_scaling(train):
    p = fitted(train)
    assert p.na_cols_ == ["Dist"] and p.cont_names_ == ["Dist", "Temp", "Dist_na"]
    assert p.medians_["Dist"] == 30.0
    _, conts = p.transform(train)
    filled = np.array([10.0, 30.0, 30.0, 50.0])
    expected = (filled - filled.mean()) / filled.std()
    np.testing.assert_allclose(conts[:, 0], expected, rtol=1e-6)
    assert conts[:, 2].tolist() == [0, 1, 0, 0]
    assert abs(conts[:, 1].mean()) < 1e-6 and abs(conts[:, 1].std() - 1) < 1e-6


def test_transform_frame_fixed_categories(train):
    p = fitted(train)
    f = p.transform_frame(train.iloc[[2]])
    assert isinstance(f["State"].dtype, pd.CategoricalDtype)
    assert list(f["State"].cat.categories) == ["BY", "HB,NI", "HE"]  # all of fit's, not just present
    assert f["State"].cat.codes.tolist() == [2]
    assert f["Dist"].tolist() == [30.0]  # raw continuous values, not scaled
    g = p.transform_frame(pd.DataFrame({"Store": [7], "StoreType": ["a"], "State": ["XX"],
                                        "StateHoliday": [True], "Dist": [np.nan], "Temp": [0.0]}))
    assert g["Store"].isna().all() and g["State"].isna().all() and np.isnan(g["Dist"].iat[0])


def test_json_round_trip(train):
    p = fitted(train)
    q = TabularPreprocessor.from_dict(json.loads(json.dumps(p.to_dict())))
    for a, b in zip(p.transform(train), q.transform(train)):
        np.testing.assert_array_equal(a, b)
    assert q.cardinalities_ == p.cardinalities_
    pd.testing.assert_frame_equal(p.transform_frame(train), q.transform_frame(train))


def test_dtype_drift_between_fit_and_transform(train):
    """A column that arrives as float or category later (e.g. after a parquet round trip)."""
    p = fitted(train)
    later = train.assign(Store=train["Store"].astype(float), StoreType=pd.Categorical(train["StoreType"]),
                         State=train["State"].astype(str))
    np.testing.assert_array_equal(p.transform(later)[0], p.transform(train)[0])


def test_log_columns_rare_nan_flags_and_clipping() -> None:
    train = pd.DataFrame({"Hist": [100.0, 1000.0, 10000.0, np.nan] + [1000.0] * 196,
                          "Rare": [np.nan] + [5.0] * 199, "Temp": np.linspace(-5, 30, 200)})
    p = TabularPreprocessor([], ["Hist", "Rare", "Temp"], log_cols=["Hist"], na_flag_min_rate=0.01,
                            clip=True).fit(train)
    # Hist is NaN on 0.5% of rows: below the 1% rate, so no Hist_na flag; Rare the same.
    assert p.na_cols_ == [] and p.cont_names_ == ["Hist", "Rare", "Temp"]
    assert p.medians_["Hist"] == pytest.approx(np.log1p(1000.0))
    assert p.ranges_["Temp"] == (-5.0, 30.0) and p.ranges_["Hist"][1] == pytest.approx(np.log1p(10000.0))
    new = pd.DataFrame({"Hist": [1000.0, 1e9, np.nan], "Rare": [np.nan, 5.0, 5.0], "Temp": [-40.0, 10.0, 99.0]})
    _, conts = p.transform(new)
    raw = conts * np.array([p.stds_[c] for c in p.cont_cols]) + np.array([p.means_[c] for c in p.cont_cols])
    np.testing.assert_allclose(raw[:, 0], np.log1p([1000.0, 10000.0, 1000.0]), rtol=1e-5)  # log, clipped, median
    np.testing.assert_allclose(raw[:, 2], [-5.0, 10.0, 30.0], rtol=1e-5)                 # clipped to the train range
    # The default keeps every flag and does not clip (LightGBM and older saved models).
    q = TabularPreprocessor([], ["Hist", "Rare", "Temp"]).fit(train)
    assert q.na_cols_ == ["Hist", "Rare"]
    assert q.transform(new)[1][0, 2] < -5  # -40 C is far below the training range, kept as is
    r = TabularPreprocessor.from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_array_equal(r.transform(new)[1], conts)
    with pytest.raises(ValueError, match="log_cols .*'Nope'.* not among cont_cols"):
        TabularPreprocessor([], ["Temp"], log_cols=["Nope"]).fit(train)


def test_version_1_dict_loads_with_the_old_behaviour(train) -> None:
    d = fitted(train).to_dict()
    for key in ("log_cols", "na_flag_min_rate", "clip", "ranges"):
        d.pop(key)
    d["version"] = 1
    q = TabularPreprocessor.from_dict(d)
    for a, b in zip(fitted(train).transform(train), q.transform(train)):
        np.testing.assert_array_equal(a, b)
