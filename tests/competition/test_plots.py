"""The data's pictures: what each calendar date is to the windows and the test, and the PNGs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from competition import (
    PeriodShape,
    SyntheticConfig,
    load_competition,
    plot_store_days,
    plot_windows,
    windows,
    write_dataset,
)
from competition.plots import date_roles


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    folder = write_dataset(tmp_path_factory.mktemp("synthetic"), SyntheticConfig(n_stores=6, seed=1)).parent
    with pytest.warns(UserWarning, match="Open is blank"):  # the quirk the generator keeps
        return load_competition(folder)


def test_every_date_has_its_role_with_a_gap_after_each_train() -> None:
    train_dates = pd.Series(pd.date_range("2015-01-01", "2015-06-30"))
    test_dates = pd.Series(pd.date_range("2015-07-04", "2015-07-13"))  # 3 days after train, 10 days
    wins = windows(train_dates, PeriodShape(n_days=10, gap=3), folds=2)
    roles = date_roles(train_dates.max(), test_dates, wins)
    counts = roles.value_counts()
    assert counts["w1"] == counts["w2"] == counts["test"] == 10
    # Before the test and before w2; w1's gap is w2's last days (windows are consecutive), shown as w2.
    assert counts["gap"] == 2 * 3
    assert roles[pd.Timestamp("2015-06-30")] == "w1" and roles[pd.Timestamp("2015-07-01")] == "gap"
    assert roles[wins[1].train_end] == "train" and roles.index[-1] == test_dates.max()


def test_the_pictures_are_pngs_and_an_unknown_store_is_refused(data, tmp_path: Path) -> None:
    wins = windows(data.train["Date"], PeriodShape(n_days=48, gap=0), folds=2)
    for path in (plot_windows(data.train["Date"], data.test["Date"], wins, tmp_path / "windows.png"),
                 plot_store_days(data, 1, tmp_path / "store.png")):
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size[0] > 500
    with pytest.raises(ValueError, match="store 999 has no train rows"):
        plot_store_days(data, 999, tmp_path / "none.png")
