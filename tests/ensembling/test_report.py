"""`python -m ensembling.report` writes report.md and its PNGs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ensembling.cli import run_ensemble
from ensembling.report import (
    build_report,
    day_table,
    heaviest_rows,
    load_frame,
    month_turn_segment,
    one_off_table,
    segment_table,
    window_week_segment,
)

REPO = Path(__file__).resolve().parents[2]
PNGS = ("rmspe_models.png", "rmspe_segments.png", "worst_stores.png")


def test_report_after_ensemble(build_factory, data_dir, synth):
    build = build_factory({"baseline": synth.noisy(0.2), "lgbm": synth.noisy(0.08, 1.03), "mlp": synth.noisy(0.12)})
    run_ensemble(build, data_dir)
    res = subprocess.run([sys.executable, "-m", "ensembling.report", "--build-dir", str(build)], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    md = (build / "reports" / "report.md").read_text()
    for section in ("## RMSPE per model", "## Where the models fail", "### StoreType", "### Assortment",
                    "### State", "### Promo", "### DayOfWeek", "### HolidayWeek", "### MonthTurn",
                    "### WindowWeek",
                    "## The store-days that weigh most", "## Worst stores", "## Data sheet"):
        assert section in md, section
    assert "out-of-window" in md and "source: **synthetic**" in md
    assert "| window | rows | one-off rows | baseline share |" in md
    for png in PNGS:
        data = (build / "reports" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png


def test_month_turn_segment_counts_shopping_days_from_the_month_ends() -> None:
    # June 2015 ends on a Tuesday; Monday 2015-06-01 is the month's first shopping day; 2015-05-31
    # is a Sunday, so Friday the 29th and Saturday the 30th are May's last two shopping days.
    dates = pd.Series(pd.to_datetime(["2015-06-01", "2015-06-15", "2015-06-29", "2015-06-30",
                                      "2015-05-29", "2015-05-30"]), index=[5, 6, 7, 8, 9, 10])
    seg = month_turn_segment(dates)
    assert list(seg.index) == [5, 6, 7, 8, 9, 10]
    assert list(seg) == ["1 first shop day", "2 between", "3 second-last shop day", "4 last shop day",
                         "3 second-last shop day", "4 last shop day"]


def test_window_week_counts_weeks_from_each_windows_first_day() -> None:
    # w1 starts on 2015-05-03, w2 on 2015-06-20; the rows come in any order, with their own index.
    window = pd.Series([2, 1, 1, 1, 2, 1, 2], index=[9, 8, 7, 6, 5, 4, 3])
    dates = pd.Series(pd.to_datetime(["2015-06-27", "2015-05-09", "2015-05-03", "2015-05-10", "2015-06-20",
                                      "2015-06-19", "2015-07-31"]), index=window.index)
    seg = window_week_segment(window, dates)
    assert list(seg.index) == [9, 8, 7, 6, 5, 4, 3]
    assert list(seg) == ["week 2", "week 1", "week 1", "week 2", "week 1", "week 7", "week 6"]
    # Ordered by the week, not by its name's letters, so "week 10" comes after "week 9".
    long = window_week_segment(pd.Series([1, 1]), pd.Series(pd.to_datetime(["2015-01-01", "2015-03-11"])))
    assert list(long.cat.categories) == [f"week {k}" for k in range(1, 11)] and long.iloc[1] == "week 10"


def test_one_off_days_and_their_share_by_hand():
    # w1: store 2 sold 100 where it usually sells 1000: one-off, and the heaviest error of the window
    frame = pd.DataFrame({"Window": [1, 1, 1, 2], "Store": [1, 2, 3, 1],
                          "Date": pd.to_datetime(["2015-06-01", "2015-06-01", "2015-06-01", "2015-07-01"]),
                          "Sales": [1000.0, 100.0, 500.0, 800.0], "baseline": [1000.0, 1000.0, 400.0, 900.0],
                          "m": [1100.0, 900.0, 500.0, 800.0]})
    t = one_off_table(frame, ["baseline", "m"]).set_index("window")
    assert t.loc["w1", "one-off rows"] == 1 and t.loc["w2", "one-off rows"] == 0
    # m's squared errors on w1: 0.01, 64, 0
    assert t.loc["w1", "m share"] == pytest.approx(64 / 64.01)
    assert t.loc["w1", "m without"] == pytest.approx((0.01 / 2) ** 0.5)
    assert t.loc["w2", "m share"] == 0  # a perfect window: no error to share
    top = heaviest_rows(frame, ["baseline", "m"], n=2)
    assert top["Store"].tolist() == ["2", "1"] and top["m error"].iloc[0] == pytest.approx(8.0)
    assert top["date"].iloc[0] == "2015-06-01 Mon" and top["Sales"].iloc[0] == 100


def test_report_without_ensemble(build_factory, synth):
    build = build_factory({"lgbm": synth.noisy(0.08)})
    path = build_report(build)
    assert "| lgbm |" in path.read_text()


def test_segment_table_matches_rmspe_by_hand():
    frame = pd.DataFrame({"Sales": [100.0, 200.0, 100.0], "m": [110.0, 200.0, 50.0], "Promo": [0, 0, 1]})
    t = segment_table(frame, ["m"], "Promo").set_index("Promo")
    assert abs(t.loc[0, "m"] - (0.1 ** 2 / 2) ** 0.5) < 1e-12
    assert abs(t.loc[1, "m"] - 0.5) < 1e-12
    assert t.loc[0, "rows"] == 2


def test_report_shows_the_embedding_maps_where_they_were_drawn(build_factory, synth):
    build = build_factory({"lgbm": synth.noisy(0.08)})
    assert "embeddings" not in build_report(build).read_text()
    maps = build / "reports" / "embeddings"
    maps.mkdir(parents=True)
    (maps / "embeddings.json").write_text(json.dumps({
        "method": "pca", "files": {"states": "states.png", "weekdays": "weekdays.png"},
        "states": {"states": ["BE", "BY", "HE", "NW"], "procrustes_disparity": 0.42, "procrustes_p": 0.031,
                   "mantel_r": 0.35, "mantel_p": 0.02}}))
    md = build_report(build).read_text()
    assert "## What the MLP's embeddings learned" in md
    assert "![states](embeddings/states.png)" in md and "![weekdays](embeddings/weekdays.png)" in md
    assert "disparity 0.42" in md and "p = 0.031" in md and "r = 0.35" in md


def test_report_breaks_the_same_season_windows_down_by_day(build_factory, data_dir, synth):
    build = build_factory({"lgbm": synth.noisy(0.08, 1.05), "mlp": synth.noisy(0.10, 0.95)})
    meta_path = build / "features" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["windows"][2].update(kind="season", years_back=1, label="season -1y")
    meta_path.write_text(json.dumps(meta))
    run_ensemble(build, data_dir)
    md = build_report(build).read_text()
    assert "## The same-season windows, day by day" in md and "w3 season -1y" in md
    assert (build / "reports" / "season_days.png").read_bytes()[:4] == b"\x89PNG"
    frame, cols = load_frame(build)
    table = day_table(frame[frame["Window"] == 3], cols)
    assert len(table) == frame.loc[frame["Window"] == 3, "Date"].nunique()
    # lgbm over-predicts by 5%, mlp under-predicts by 5%: the bias columns say so.
    assert table["lgbm bias"].median() == pytest.approx(np.log(1.05), abs=0.02)
    assert table["mlp bias"].median() == pytest.approx(np.log(0.95), abs=0.02)
