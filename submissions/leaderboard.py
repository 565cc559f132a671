"""``python -m submissions.leaderboard``: the Kaggle-side scores of this account's submissions.

Runs ``kaggle competitions submissions rossmann-store-sales`` (see submissions/upload.py for why
the CLI runs as a child process), then sets each upload of ``B/submissions/log.csv`` (the file,
its sha256 and the expected test RMSPE ``make submit`` printed, with its interval) beside the score
Kaggle gave it, matched by message and time: how well the estimate tracks the leaderboard.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import DataError
from core.kaggle_cli import COMPETITION, explain_failure, run_kaggle
from submissions.track import parse_score, parse_submissions, parse_time, record_leaderboard
from submissions.upload import check_executable, read_log, require_credentials


def against_estimates(output: str, log: list[dict[str, str]]) -> str:
    """A table of the logged uploads, newest first: the expected test RMSPE and its interval beside
    Kaggle's public and private scores (the Kaggle row of the same message nearest in time)."""
    kaggle = parse_submissions(output)
    lines = ["uploads of this build against the leaderboard (expected: what `make submit` printed):",
             f"  {'uploaded (UTC)':<20} {'expected (interval)':<26} {'public':>8} {'private':>8}  message"]
    for up in reversed(log):
        same = [r for r in kaggle if r.get("description", "") == up["message"]]
        when = parse_time(up["time_utc"])
        if same and when is not None and all(parse_time(r.get("date", "")) for r in same):
            same = [min(same, key=lambda r: abs((parse_time(r["date"]) - when).total_seconds()))]
        row = same[0] if same else {}
        public, private = parse_score(row.get("publicScore")), parse_score(row.get("privateScore"))
        expected = (f"{float(up['estimate']):.4f} ({float(up['estimate_low']):.4f}..{float(up['estimate_high']):.4f})"
                    if up.get("estimate") and up.get("estimate_low") else up.get("validation_rmspe") or "unknown")
        inside = ""
        if public is not None and up.get("estimate_low"):
            inside = "  inside" if float(up["estimate_low"]) <= public <= float(up["estimate_high"]) else "  outside"
        lines.append(f"  {up['time_utc'][:19]:<20} {expected:<26} "
                     f"{'' if public is None else f'{public:.5f}':>8} {'' if private is None else f'{private:.5f}':>8}"
                     f"  {up['message']}{inside}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.leaderboard", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build"), help="whose submissions/log.csv to match")
    args = ap.parse_args(argv)
    require_credentials()
    check_executable()
    result = run_kaggle(["competitions", "submissions", COMPETITION])
    output = ((result.stdout or "") + (result.stderr or "")).strip()
    if result.returncode != 0 or "Authentication required" in output:
        raise DataError(explain_failure(result), fix="see the Kaggle message above")
    print(output)
    log = read_log(args.build_dir / "submissions" / "log.csv")
    if log:
        print(against_estimates(output, log))
    record_leaderboard(output)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
