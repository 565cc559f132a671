"""``python -m submissions.score SUBMISSION.csv --solution solution.csv``: RMSPE against the truth.

Kaggle scores a submission against answers it keeps to itself. Where the answers are at hand (the
synthetic generator writes ``solution.csv`` beside its data; a test period cut from your own train
has them too), this scores any submission file the same way: RMSPE over the rows whose true Sales
are above zero.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from competition.metric import rmspe
from core.errors import DataError


def _read(path: Path, what: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"no {what} file", file=path, fix=f"pass the path of an existing {what} CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot parse the CSV ({err})", file=path,
                        fix=f"pass a {what} CSV with columns Id,Sales") from None
    missing = [c for c in ("Id", "Sales") if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {list(df.columns)}", file=path,
                        column=missing[0], fix="the file needs the columns Id,Sales")
    dup = df["Id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(f"Id {df['Id'].iat[i]} appears twice", file=path, column="Id", row=i + 2,
                        fix="keep one row per Id")
    return df


def score_submission(submission: Path, solution: Path) -> float:
    """RMSPE of ``submission`` against ``solution`` (both ``Id,Sales``; every solution Id needed)."""
    sub, sol = _read(submission, "submission"), _read(solution, "solution")
    merged = sol.merge(sub, on="Id", how="left", suffixes=("_true", ""))
    missing = merged["Sales"].isna().to_numpy()
    if missing.any():
        raise DataError(f"{int(missing.sum())} Id(s) of the solution have no prediction (first: "
                        f"{merged['Id'].iat[int(np.flatnonzero(missing)[0])]})", file=submission, column="Id",
                        fix="score a submission made for the same test.csv as the solution")
    return rmspe(merged["Sales_true"].to_numpy(np.float64), merged["Sales"].to_numpy(np.float64))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.score", description=__doc__.split("\n")[0])
    ap.add_argument("submissions", nargs="+", type=Path, help="submission CSVs (Id,Sales)")
    ap.add_argument("--solution", type=Path, required=True, help="the true Sales of the test rows (Id,Sales)")
    args = ap.parse_args(argv)
    for path in args.submissions:
        print(f"{path}: RMSPE {score_submission(path, args.solution):.5f}")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
