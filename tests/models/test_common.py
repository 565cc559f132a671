"""models.common: what every model's stage writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.dataset import Dataset, parquet_dataset
from core.errors import DataError
from models.common import write_outputs
from submissions.score_store import read_scores


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    test = pd.DataFrame({"Id": [1, 2, 3, 4], "Store": [1, 1, 2, 2], "Open": [1, 0, 1, 1],
                         "Date": pd.to_datetime(["2015-08-01", "2015-08-02", "2015-08-01", "2015-08-02"])})
    oof = pd.DataFrame({"Window": 1, "Store": [1, 2], "Date": pd.to_datetime(["2015-06-01"] * 2),
                        "Sales": [10.0, 20.0], "prediction": [11.0, 19.0]})
    window = {"index": 1, "start": "2015-06-01", "end": "2015-06-01", "train_end": "2015-05-01", "n_days": 1}
    return test, oof, {"rmspe": 0.1, "windows": [window]}


def test_model_submission_follows_the_sample_submission_order(tmp_path: Path) -> None:
    """Kaggle's sample order, not Id order: the features stage saves the sample for every model."""
    test, oof, summary = _tables()
    (tmp_path / "features").mkdir()
    pd.DataFrame({"Id": [3, 1, 4, 2], "Sales": 0.0}).to_parquet(tmp_path / "features" / "sample_submission.parquet")
    dataset = Dataset("/data", "ab" * 32, "kaggle")
    write_outputs(tmp_path, "m", oof, test, np.array([10.0, 20.0, 30.0, 40.0]), summary, dataset)
    sub = pd.read_csv(tmp_path / "submissions" / "m.csv")
    assert sub["Id"].tolist() == [3, 1, 4, 2]
    assert sub["Sales"].tolist() == pytest.approx([30.0, 10.0, 40.0, 0.0])
    # Every output records the data it was made from.
    for part in ("oof", "test"):
        assert parquet_dataset(tmp_path / "predictions" / f"m.{part}.parquet") == dataset.fingerprint
    entry = read_scores(tmp_path)["models"]["m"]
    assert entry["dataset"] == dataset.fingerprint and entry["data_source"] == "kaggle"


def test_missing_sample_submission_says_rebuild_the_features(tmp_path: Path) -> None:
    test, oof, summary = _tables()
    with pytest.raises(DataError, match="sample submission") as err:
        write_outputs(tmp_path, "m", oof, test, np.ones(4), summary)
    assert "make features" in err.value.render()
    assert not (tmp_path / "submissions" / "m.csv").exists()
