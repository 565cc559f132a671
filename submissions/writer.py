"""Write Kaggle submission files that cannot be invalid.

Format: ``Id,Sales`` with the ids in ``sample_submission.csv`` order, 0 for closed stores, no NaN,
no negative value. The check runs before anything is written, and the write is atomic, so a bad
prediction never replaces a good file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.io import write_text_atomic


class SubmissionError(ValueError):
    """A prediction frame that would make an invalid Kaggle submission."""


def check_submission(pred: pd.DataFrame, sample_submission: pd.DataFrame) -> pd.DataFrame:
    """Return ``pred`` as ``Id,Sales`` in sample order, or raise :class:`SubmissionError`."""
    missing = {"Id", "Sales"} - set(pred.columns)
    if missing:
        raise SubmissionError(f"predictions need columns Id and Sales; missing {sorted(missing)} "
                              f"(got {list(pred.columns)})")
    if pred["Id"].duplicated().any():
        dup = pred.loc[pred["Id"].duplicated(), "Id"].iloc[0]
        raise SubmissionError(f"Id {dup} appears more than once; give one prediction per test Id")
    want = sample_submission["Id"].to_numpy()
    got = set(pred["Id"].to_numpy().tolist())
    lost = [i for i in want.tolist() if i not in got]
    if lost:
        raise SubmissionError(f"{len(lost)} Id(s) of sample_submission.csv have no prediction, e.g. {lost[:5]}")
    extra = got - set(want.tolist())
    if extra:
        raise SubmissionError(f"{len(extra)} Id(s) are not in sample_submission.csv, e.g. {sorted(extra)[:5]}")
    out = pred.set_index("Id").loc[want, ["Sales"]].reset_index()
    sales = out["Sales"].to_numpy(dtype=np.float64)
    if not np.isfinite(sales).all():
        bad = out.loc[~np.isfinite(sales), "Id"].iloc[0]
        raise SubmissionError(f"Sales is NaN or infinite for Id {bad}; every row needs a number")
    if (sales < 0).any():
        bad = out.loc[sales < 0, "Id"].iloc[0]
        raise SubmissionError(f"Sales is negative for Id {bad}; sales cannot be negative")
    out["Id"] = out["Id"].astype(np.int64)
    return out


def zero_when_closed(open_flags: pd.Series | np.ndarray, prediction: np.ndarray | pd.Series) -> np.ndarray:
    """The one closed-days rule: ``prediction`` with 0 where ``Open == 0``. Closed stores sell
    nothing; Kaggle ignores those rows but the file must say 0. A blank ``Open`` counts as open,
    as the loader reads it."""
    closed = pd.Series(np.asarray(open_flags)).fillna(1).to_numpy() == 0
    return np.where(closed, 0.0, np.asarray(prediction, dtype=np.float64))


def to_submission(test: pd.DataFrame, prediction: np.ndarray | pd.Series) -> pd.DataFrame:
    """``Id,Sales`` from test rows and a prediction per row; closed days (``Open == 0``) get 0."""
    return pd.DataFrame({"Id": test["Id"].to_numpy(), "Sales": zero_when_closed(test["Open"], prediction)})


def write_submission(pred: pd.DataFrame, sample_submission: pd.DataFrame, path: str | Path) -> Path:
    """Check ``pred`` against the sample submission and write it atomically to ``path``."""
    out = check_submission(pred, sample_submission)
    # Fixed formatting keeps the same predictions byte-identical across runs.
    lines = ["Id,Sales"] + [f"{i},{s:.6f}" for i, s in zip(out["Id"].tolist(), out["Sales"].tolist(), strict=True)]
    path = Path(path)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
