"""``python -m submissions.upload --build-dir B --message MSG``: send submission.csv to Kaggle.

The kaggle CLI runs as a child process (``$KAGGLE``, default the venv's ``kaggle``); the package
is never imported because it authenticates, and exits, on import. Credentials are checked first
so a user without them gets set-up instructions rather than a stack of CLI output. The
submission file is only read, and its sha256 is checked again after the CLI ran.

Every successful upload appends a line to ``B/submissions/log.csv``: time (UTC, ISO 8601), file,
sha256, message, the pseudo-test RMSPE of what was sent and its expected test RMSPE with the
interval, so a leaderboard score can always be traced back to the exact file and its offline
estimate (``make leaderboard`` sets them side by side).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from competition.dataset import read_record
from core.errors import DataError
from core.io import sha256_of, write_text_atomic
from core.kaggle_cli import (
    COMPETITION,
    CREDENTIALS_HELP,
    credentials_configured,
    explain_failure,
    kaggle_executable,
    run_kaggle,
)
from submissions.score_store import read_scores, scores_path
from submissions.track import tag_upload

# The scores logged beside each upload (log column -> scores.json key): the mean window RMSPE
# and the expected test RMSPE with its interval, to set against the leaderboard's score.
LOG_SCORES = {"validation_rmspe": "rmspe", "estimate": "estimate", "estimate_low": "estimate_low",
              "estimate_high": "estimate_high"}
LOG_COLUMNS = ["time_utc", "file", "sha256", "message", *LOG_SCORES]


def require_credentials() -> None:
    if not credentials_configured():
        raise DataError(f"cannot talk to Kaggle without credentials.\n{CREDENTIALS_HELP}",
                        fix="set up credentials as above, then run the command again")


def check_executable() -> str:
    exe = kaggle_executable()
    if shutil.which(exe) is None and not Path(exe).exists():
        raise DataError(f"the kaggle command line {exe!r} was not found",
                        fix="run `make setup` (it installs kaggle into .venv), or set KAGGLE=/path/to/kaggle")
    return exe


def submitted_entry(build_dir: Path, submission: Path) -> dict[str, Any]:
    """The scores.json entry of the file being sent ({} when none can be told).

    An entry that recorded the file's sha256 names it; else submission.csv is a copy of
    ensemble.csv or of one model's csv, and the byte-identical ``submissions/<name>.csv`` names it.
    """
    try:
        models = read_scores(build_dir).get("models", {})
    except json.JSONDecodeError:
        print(f"warning: {scores_path(build_dir)} is not valid JSON; logging no pseudo-test RMSPE")
        return {}
    digest = sha256_of(submission)
    for entry in models.values():
        if isinstance(entry, dict) and entry.get("submission_sha256") == digest:
            return entry
    for candidate in sorted(submission.parent.glob("*.csv")):
        name = candidate.stem
        if candidate.resolve() == submission.resolve() or name in ("submission", "log"):
            continue
        if name in models and sha256_of(candidate) == digest:
            return models[name]
    return models.get(submission.stem, {})


def submission_source(build_dir: Path, submission: Path) -> str | None:
    """Whether the file was made from "kaggle" or "synthetic" data, as recorded (None: unknown):
    its scores.json entry says, else the build's dataset (``dataset.json``)."""
    entry = submitted_entry(build_dir, submission)
    if "data_source" in entry:
        return str(entry["data_source"])
    record = read_record(build_dir)
    return record.source if record is not None else None


def read_log(log: Path) -> list[dict[str, str]]:
    """The rows of log.csv ([] when there is none); columns a row lacks (an older log) are empty."""
    if not log.exists():
        return []
    return [{c: r.get(c) or "" for c in LOG_COLUMNS} for r in csv.DictReader(io.StringIO(log.read_text()))]


def append_log(log: Path, row: dict[str, str]) -> None:
    """Append one line to log.csv, written whole to a temp file and renamed, like every output (a
    log with older columns is rewritten with today's, its rows kept)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([*read_log(log), row])
    write_text_atomic(log, buf.getvalue())


def upload(build_dir: Path, message: str, file: Path | None = None, check_credentials: bool = True,
           allow_synthetic: bool = False) -> dict[str, str]:
    """Submit ``file`` (default ``B/submissions/submission.csv``) and log it; returns the log row."""
    path = file or build_dir / "submissions" / "submission.csv"
    if not path.exists():
        raise DataError("no submission file to upload", file=path,
                        fix=f"build it first with `make submit BUILD_DIR={build_dir} DATA_DIR=<your data>`; "
                            "uploading never builds or trains")
    if not message.strip():
        raise DataError("the submission message is empty", fix='pass one: make upload MSG="what changed"')
    if submission_source(build_dir, path) == "synthetic" and not allow_synthetic:
        raise DataError("was made from SYNTHETIC data (generated, not Kaggle's): its score would say nothing about "
                        "your model, and it would take one of your daily submissions", file=path,
                        fix=f"build it from the competition data first (`make submit BUILD_DIR={build_dir} "
                            "DATA_DIR=path/to/rossmann`); to send it anyway, e.g. to try your Kaggle set-up, "
                            "pass ALLOW_SYNTHETIC=1 (`--allow-synthetic`)")
    if check_credentials:
        require_credentials()
    check_executable()
    digest = sha256_of(path)
    entry = submitted_entry(build_dir, path)
    result = run_kaggle(["competitions", "submit", COMPETITION, "-f", str(path), "-m", message])
    output = ((result.stdout or "") + (result.stderr or "")).strip()
    if sha256_of(path) != digest:  # the CLI only reads it; anything else is a bug worth stopping for
        raise RuntimeError(f"{path} changed while it was being uploaded")
    failed = result.returncode != 0 or "Authentication required" in output
    if failed:
        if "Authentication required" in output or "kaggle.json" in output:
            raise DataError(f"the kaggle CLI found no usable credentials.\n{CREDENTIALS_HELP}",
                            fix="set up credentials as above, then run the command again")
        raise DataError(explain_failure(result), file=path, fix="see the Kaggle message above; the file is unchanged")
    if output:
        print(output)
    row = {"time_utc": datetime.now(UTC).isoformat(timespec="seconds"), "file": str(path),
           "sha256": digest, "message": message,
           **{col: f"{entry[key]:.6f}" if isinstance(entry.get(key), (int, float)) else ""
              for col, key in LOG_SCORES.items()}}
    append_log(build_dir / "submissions" / "log.csv", row)
    tag_upload(row)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.upload", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--message", "-m", required=True, help="the submission description shown on Kaggle")
    ap.add_argument("--file", type=Path, help="default: BUILD_DIR/submissions/submission.csv")
    ap.add_argument("--allow-synthetic", action="store_true",
                    help="upload even a file made from synthetic data (refused otherwise)")
    args = ap.parse_args(argv)
    row = upload(args.build_dir, args.message, args.file, allow_synthetic=args.allow_synthetic)
    print(f"uploaded {row['file']} (sha256 {row['sha256'][:12]}, expected test RMSPE "
          f"{row['estimate'] or 'unknown'}); logged in {args.build_dir / 'submissions' / 'log.csv'}")
    print("scores: `make leaderboard` (Kaggle scores a submission within a minute or two)")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
