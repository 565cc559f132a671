"""The submission writer refuses anything Kaggle would reject, and writes atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from submissions.score_store import best_model, read_scores, record_model
from submissions.writer import SubmissionError, to_submission, write_submission, zero_when_closed

SAMPLE = pd.DataFrame({"Id": [1, 2, 3, 4], "Sales": 0.0})


def test_writes_in_sample_order_with_closed_zero(tmp_path: Path) -> None:
    test = pd.DataFrame({"Id": [3, 1, 4, 2], "Open": [1, 0, 1, 1]})
    pred = to_submission(test, np.array([30.0, 10.0, 40.5, 20.0]))
    path = write_submission(pred, SAMPLE, tmp_path / "s.csv")
    assert path.read_text() == "Id,Sales\n1,0.000000\n2,20.000000\n3,30.000000\n4,40.500000\n"


def test_one_closed_days_rule_a_blank_open_counts_as_open() -> None:
    out = zero_when_closed(pd.Series([1.0, 0.0, np.nan, 0.0]), np.array([5.0, 6.0, 7.0, 8.0]))
    np.testing.assert_array_equal(out, [5.0, 0.0, 7.0, 0.0])
    np.testing.assert_array_equal(zero_when_closed(np.array([0, 1]), [3, 4]), [0.0, 4.0])


@pytest.mark.parametrize("pred, message", [
    (pd.DataFrame({"Id": [1, 2, 3], "Sales": [1.0, 2, 3]}), "have no prediction"),
    (pd.DataFrame({"Id": [1, 2, 3, 4, 5], "Sales": [1.0, 2, 3, 4, 5]}), "not in sample_submission"),
    (pd.DataFrame({"Id": [1, 2, 3, 4], "Sales": [1.0, np.nan, 3, 4]}), "NaN"),
    (pd.DataFrame({"Id": [1, 2, 3, 4], "Sales": [1.0, -2, 3, 4]}), "negative"),
    (pd.DataFrame({"Id": [1, 1, 3, 4], "Sales": [1.0, 2, 3, 4]}), "more than once"),
    (pd.DataFrame({"Id": [1, 2, 3, 4]}), "missing"),
])
def test_rejects_invalid_and_keeps_old_file(tmp_path: Path, pred: pd.DataFrame, message: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text("old")
    with pytest.raises(SubmissionError, match=message):
        write_submission(pred, SAMPLE, path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]  # no temp file left behind


def test_validation_record(tmp_path: Path) -> None:
    record_model(tmp_path, "a", 0.2)
    record_model(tmp_path, "b", 0.1, {"epochs": 3})
    doc = read_scores(tmp_path)
    assert doc["models"]["b"] == {"rmspe": 0.1, "epochs": 3}
    assert best_model(tmp_path) == ("b", 0.1)
