"""The feature-family registry: the column lists come from it, and a family must add what it lists."""
from __future__ import annotations

import dataclasses
import warnings

import pandas as pd
import pytest

from competition.data import load_competition
from competition.synthetic import SyntheticConfig, write_dataset
from features.columns import CAT_COLS, CONT_COLS, FASTAI_CAT_COLS, FASTAI_CONT_COLS, model_columns
from features.pipeline import build_features
from features.registry import DEFAULT_FAMILIES, FamilySpec, family_columns
from models.mlp.regressor import MLP_LOG_COLS


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("registry-data")
    write_dataset(d, SyntheticConfig(n_stores=4, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader's "Open is blank" note
        return load_competition(d)


def test_every_default_family_adds_exactly_the_columns_it_lists(data) -> None:
    vs = data.train["Date"].max() - pd.Timedelta(days=47)
    base, _ = build_features(data, vs, families=())
    seen = set(base.columns)
    for k in range(len(DEFAULT_FAMILIES)):
        train, test = build_features(data, vs, families=DEFAULT_FAMILIES[:k + 1])
        added = set(train.columns) - seen
        assert added == set(DEFAULT_FAMILIES[k].columns), DEFAULT_FAMILIES[k].name
        assert set(DEFAULT_FAMILIES[k].columns) <= set(test.columns)
        seen |= added


def test_column_lists_and_log_columns_come_from_the_registry() -> None:
    cats, conts = family_columns(DEFAULT_FAMILIES)
    assert CAT_COLS == FASTAI_CAT_COLS + cats and CONT_COLS == FASTAI_CONT_COLS + conts
    assert model_columns("lgbm") == (CAT_COLS, CONT_COLS)
    lgbm_only = [c for f in DEFAULT_FAMILIES if "mlp" not in f.models for c in f.columns]
    assert lgbm_only == ["CarnivalDay"]
    assert model_columns("mlp") == (CAT_COLS, [c for c in CONT_COLS if c not in lgbm_only])
    # Log columns set the MLP's input scale, so only the MLP's families give them (for the
    # defaults that is every family's list: no LightGBM-only family has log columns).
    assert MLP_LOG_COLS == [c for f in DEFAULT_FAMILIES if "mlp" in f.models for c in f.log_cols] + \
        ["CompetitionDistance"]
    assert MLP_LOG_COLS == [c for f in DEFAULT_FAMILIES for c in f.log_cols] + ["CompetitionDistance"]
    assert len(set(conts)) == len(conts)
    # A family one model takes reaches that model's list only.
    only = FamilySpec("x", lambda df, vs, ts, shape: df, cont_cols=("X",), models=("lgbm",))
    assert family_columns((only,), "lgbm") == ([], ["X"]) and family_columns((only,), "mlp") == ([], [])
    with pytest.raises(ValueError, match="unknown model"):
        model_columns("xgb")


def test_a_spec_that_does_not_match_its_family_is_refused(data) -> None:
    recent = next(f for f in DEFAULT_FAMILIES if f.name == "competition_recent")
    liar = dataclasses.replace(recent, cont_cols=("CompetitionOpenedDays", "NotMade"))
    with pytest.raises(ValueError, match=r"'competition_recent' did not add the columns .*: \['NotMade'\]"):
        build_features(data, data.train["Date"].max() - pd.Timedelta(days=47), families=(liar,))
    with pytest.raises(ValueError, match="named once each"):
        build_features(data, data.train["Date"].max(), families=DEFAULT_FAMILIES[:1] * 2)
    with pytest.raises(ValueError, match="unknown models"):
        FamilySpec("y", liar.build, models=("xgb",))
    with pytest.raises(ValueError, match="log_cols must be among"):
        FamilySpec("y", liar.build, cont_cols=("A",), log_cols=("B",))
    # A LightGBM-only family with log_cols would change the MLP's settings and retrain it.
    with pytest.raises(ValueError, match="drop log_cols or add 'mlp'"):
        FamilySpec("y", liar.build, cont_cols=("A",), log_cols=("A",), models=("lgbm",))
    assert FamilySpec("y", liar.build, cont_cols=("A",), log_cols=("A",)).log_cols == ("A",)
