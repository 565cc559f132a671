"""Rolling-origin backtest: fold windows on dates, and the orchestration with a stand-in pipeline."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.errors import DataError
from competition.split import validation_split
from ensembling import backtest
from ensembling.ensemble import run_ensemble


def test_fold_windows_count_back_from_the_end():
    dates = pd.date_range("2015-01-01", "2015-06-19")
    w = backtest.fold_windows(pd.Series(np.repeat(dates, 3)), 42, 3, min_history=10)
    assert [(x.fold, str(x.start.date()), str(x.end.date())) for x in w] == [
        (1, "2015-05-09", "2015-06-19"), (2, "2015-03-28", "2015-05-08"), (3, "2015-02-14", "2015-03-27")]
    assert all(x.n_days == 42 for x in w)


def test_fold_windows_count_distinct_dates_not_calendar_days():
    # A missing day (no rows at all) is not a date of the window: the split counts distinct dates.
    dates = pd.date_range("2015-01-01", "2015-03-31").delete(80)
    w = backtest.fold_windows(pd.Series(dates), 10, 1, min_history=10)
    assert str(w[0].start.date()) == "2015-03-21"


def test_fold_1_is_the_pipelines_own_validation_window():
    dates = pd.Series(pd.date_range("2014-01-01", "2015-07-31"))
    test_dates = pd.Series(pd.date_range("2015-08-01", periods=48))
    for w in backtest.fold_windows(dates, 48, 3):
        cut = dates[dates <= w.end]
        split = validation_split(cut, test_dates)
        assert (split.valid_start, split.valid_end, split.n_days) == (w.start, w.end, 48)


def test_too_many_folds_is_a_data_error():
    with pytest.raises(DataError, match="fewer folds"):
        backtest.fold_windows(pd.Series(pd.date_range("2015-01-01", periods=200)), 42, 4)


def test_orchestration_with_stand_in_pipeline(tmp_path, data_dir, synth):
    calls = []

    def pipeline(fold_data: Path, fold_build: Path, seed: int, log: Path) -> None:
        """Stands in for `make ensemble`: loads the fold's data, 'trains' two models, ensembles."""
        calls.append((fold_data, fold_build, seed))
        comp = synth.load_as_comp(fold_data)
        synth.make_build(fold_build, comp, {"a": synth.noisy(0.08, 1.02), "b": synth.noisy(0.12)}, seed=seed)
        run_ensemble(fold_build, fold_data)

    build = tmp_path / "b"
    result = backtest.run_backtest(data_dir, build, folds=2, seed=7, pipeline=pipeline, min_history=30)
    assert [c[2] for c in calls] == [7, 7]
    train_end = pd.read_csv(data_dir / "train.csv")["Date"].max()
    for k, (fold_data, fold_build, _) in enumerate(calls, start=1):
        assert fold_data == build / "backtest" / f"fold_{k}" / "data"
        assert fold_build == build / "backtest" / f"fold_{k}" / "build"
        fold_train = pd.read_csv(fold_data / "train.csv")
        w = result["folds"][k - 1]
        assert fold_train["Date"].max() == w["end"]
        for name in ("test.csv", "store.csv", "sample_submission.csv"):
            assert (fold_data / name).read_bytes() == (data_dir / name).read_bytes()
        assert (fold_data / "external" / "store_states.csv").exists()
        assert w["notes"] == []
    assert result["folds"][0]["end"] == train_end
    assert result["folds"][1]["end"] < result["folds"][0]["start"]

    saved = json.loads((build / "backtest" / "results.json").read_text())
    s = saved["summary"]
    assert set(s) == {"a", "b", "ensemble", "ensemble (honest)"}
    vals = s["a"]["per_fold"]
    assert s["a"]["mean"] == pytest.approx(np.mean(vals)) and s["a"]["sd"] == pytest.approx(np.std(vals, ddof=1))
    assert s["ensemble"]["mean"] < min(s["a"]["mean"], s["b"]["mean"])
    md = (build / "backtest" / "results.md").read_text()
    assert "| ensemble |" in md and "±" in md


def test_fold_data_is_not_rewritten_when_unchanged(tmp_path, data_dir):
    w = pd.Timestamp("2015-05-08")
    out = backtest.write_fold_data(data_dir, tmp_path / "fold", w)
    mtime = (out / "train.csv").stat().st_mtime_ns
    backtest.write_fold_data(data_dir, tmp_path / "fold", w)
    assert (out / "train.csv").stat().st_mtime_ns == mtime


def test_failing_pipeline_reports_its_log(tmp_path, data_dir, monkeypatch):
    fake_make = tmp_path / "make"
    fake_make.write_text("#!/bin/sh\necho 'features: boom'\nexit 3\n")
    fake_make.chmod(0o755)
    monkeypatch.setenv("MAKE", str(fake_make))
    with pytest.raises(DataError, match="boom"):
        backtest.make_pipeline(data_dir, tmp_path / "b", 1, tmp_path / "log.txt")
