"""Real tests cut from the train data: a competition folder the pipeline reads like Kaggle's, with answers."""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from competition.data import load_competition
from competition.realtest import Cut, cut, write_cut
from competition.synthetic import SOLUTION_NAME, SyntheticConfig, write_dataset
from core.errors import DataError


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("syn")
    write_dataset(d, SyntheticConfig(n_stores=6, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_competition(d)


def test_a_cut_is_a_competition_with_its_answers(data, tmp_path: Path) -> None:
    spec = Cut(pd.Timestamp("2014-06-20"))
    comp, solution = cut(data, spec)
    out = write_cut(tmp_path / "cut", comp, solution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = load_competition(out)
    assert back.train["Date"].max() == spec.train_end and back.train["Date"].min() == data.train["Date"].min()
    assert back.test["Date"].min() == spec.start and back.test["Date"].max() == spec.end == pd.Timestamp("2014-08-01")
    # Every store with rows in those weeks, and nothing after the test's end anywhere.
    inside = data.train[data.train["Date"].between(spec.start, spec.end)]
    assert set(back.test["Store"]) == set(inside["Store"])
    assert back.external.weather["Date"].max() <= spec.end
    sol = pd.read_csv(out / SOLUTION_NAME)
    assert sol["Id"].tolist() == back.test["Id"].tolist() == back.sample_submission["Id"].tolist()
    truth = back.test.merge(inside, on=["Store", "Date"])
    assert (truth.set_index("Id").loc[sol["Id"], "Sales"].to_numpy() == sol["Sales"].to_numpy()).all()
    assert not (out / "SYNTHETIC_DATA.txt").exists() and "Sales" not in back.test.columns


def test_a_cut_outside_the_train_period_is_a_data_error(data) -> None:
    with pytest.raises(DataError, match="does not fit"):
        cut(data, Cut(pd.Timestamp("2015-07-20")))
