"""``python -m submissions.leaderboard``: the Kaggle-side scores of this account's submissions.

Runs ``kaggle competitions submissions rossmann-store-sales`` (see submissions/upload.py for why
the CLI runs as a child process). Pair it with ``B/submissions/log.csv`` to match a public /
private score with the file, sha256 and validation RMSPE that were sent.
"""
from __future__ import annotations

import argparse

from core.errors import DataError
from core.kaggle_cli import COMPETITION, explain_failure, run_kaggle
from submissions.track import record_leaderboard
from submissions.upload import check_executable, require_credentials


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.leaderboard", description=__doc__.split("\n")[0])
    ap.parse_args(argv)
    require_credentials()
    check_executable()
    result = run_kaggle(["competitions", "submissions", COMPETITION])
    output = ((result.stdout or "") + (result.stderr or "")).strip()
    if result.returncode != 0 or "Authentication required" in output:
        raise DataError(explain_failure(result), fix="see the Kaggle message above")
    print(output)
    record_leaderboard(output)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
