"""``python -m submissions.runs {list,diff,ui}``: compare tracked runs without opening a browser.

- ``list`` (``make runs``): the last runs as a table: when, what, commit, the settings that
  differ between them, every model's pseudo-test RMSPE (mean over windows), the estimate of the
  file sent and its Kaggle public score where ``make leaderboard`` wrote one back.
- ``diff`` (``make runs-diff A=<run> B=<run>``): two runs side by side, every setting that differs
  and every score with B - A.
- ``ui`` (``make runs-ui``): the MLflow UI on the same store.
"""
from __future__ import annotations

import argparse
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from core.cli import run_cli
from core.errors import DataError
from core.tracking import URI_ENV, Tracker, redact, sqlite_path
from submissions.track import EXPERIMENT, PUBLIC

# Params that identify the run rather than set it up, shown in their own columns or not at all.
IDENTITY = ("git_commit", "git_dirty", "data_dir", "synthetic")
SCORE = re.compile(r"^([^.]+)\.rmspe$")
ACCURACY = re.compile(r"(^[a-z_]*accuracy[a-z_]*$)|(accuracy[a-z_]*\.mean$)")
WIDTH = 14


def open_store(experiment: str) -> Tracker:
    """The run store; reading runs is this command's whole job, so a failure is an error."""
    tracker = Tracker(experiment, strict=True)
    db = sqlite_path(tracker.uri)
    if db is not None and not db.exists():
        raise DataError(f"no tracked runs yet: {db} does not exist",
                        fix="run `make submit` (or tune, backtest, bench, pets): each logs a run there; "
                            f"or point {URI_ENV} at your team's store")
    return tracker


def top_runs(tracker: Tracker, last: int, command: str | None = None) -> list[Any]:
    """The newest ``last`` runs of pipeline commands (nested stage and trial runs left out)."""
    where = f"tags.command = '{command}'" if command else "tags.command LIKE '%'"
    return tracker.search(where, max_results=last)


def short(value: str | None, width: int = WIDTH) -> str:
    text = "" if value is None else str(value)
    if re.fullmatch(r"[0-9a-f]{40,64}", text):
        return text[:8]
    return text if len(text) <= width else text[:width - 1] + "~"


def fmt(value: float | None, sign: str = "") -> str:
    """Scores with 4 decimals; seconds, megabytes and counts (10 and more) with one."""
    if value is None:
        return ""
    return f"{value:{sign}.4f}" if abs(value) < 10 else f"{value:{sign},.1f}"


def differing(runs: list[Any]) -> list[str]:
    """Top-level settings (no dot: the make variables, data, study) whose values differ among the
    runs that have them."""
    keys = sorted({k for r in runs for k in r.data.params if "." not in k and k not in IDENTITY})
    out = []
    for key in keys:
        values = [r.data.params[key] for r in runs if key in r.data.params]
        if len(values) > 1 and len(set(values)) > 1:
            out.append(key)
    return out


def score_columns(runs: list[Any]) -> list[tuple[str, str]]:
    """``(header, metric)``: each model's mean window RMSPE (``<model>.rmspe``), then the pets'
    held-out accuracies and cross-validated means (``... accuracy[.mean]``)."""
    keys = {k for r in runs for k in r.data.metrics}
    models = sorted({m.group(1) for k in keys if (m := SCORE.match(k))}, key=lambda n: (n == "ensemble", n))
    accuracies = sorted(k for k in keys if ACCURACY.search(k))
    return [(n, f"{n}.rmspe") for n in models] + [(k.removesuffix(".mean"), k) for k in accuracies]


def commit_of(run: Any) -> str:
    p = run.data.params
    return p.get("git_commit", "?")[:8] + ("*" if p.get("git_dirty") == "true" else "")


def started(run: Any) -> str:
    return datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")


def table(runs: list[Any]) -> str:
    """The runs as an aligned text table (newest first)."""
    settings = differing(runs)
    scores = score_columns(runs)
    head = ["run", "started", "command", "commit", "data", *settings, *[h for h, _ in scores], "estimate",
            "best trial", "kaggle"]
    rows = []
    for r in runs:
        m, p = r.data.metrics, r.data.params
        data = {"true": "synthetic", "false": "real"}.get(p.get("synthetic", ""), "")
        rows.append([r.info.run_id[:8], started(r), short(r.info.run_name, 24), commit_of(r), data,
                     *[short(p.get(k)) for k in settings], *[fmt(m.get(k)) for _, k in scores],
                     fmt(m.get("estimate")), fmt(m.get("best_value")), fmt(m.get(PUBLIC))])
    # Columns nobody filled (no tune run: no "best trial") are left out.
    keep = [i for i in range(len(head)) if i < 4 or any(row[i] for row in rows)]
    cells = [[head[i] for i in keep]] + [[row[i] for i in keep] for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keep))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def list_runs(tracker: Tracker, last: int, command: str | None) -> str:
    runs = top_runs(tracker, last, command)
    where = f"{redact(tracker.uri)}, experiment {tracker.experiment!r}"
    if not runs:
        return f"no tracked runs{f' of {command}' if command else ''} in {where}"
    return (f"last {len(runs)} run(s) in {where}, newest first. Scores: a model's name = its pseudo-test RMSPE "
            "(mean over windows), *accuracy = held-out (cross-validated: mean over folds); estimate: of the file "
            f"sent; kaggle: public score\n{table(runs)}")


def resolve(tracker: Tracker, ref: str | None, default: int) -> Any:
    """A run from its id or the start of it; None picks the ``default``-th newest run."""
    runs = top_runs(tracker, 1000)
    if ref is None:
        if len(runs) <= default:
            raise DataError(f"runs-diff needs two tracked runs; {len(runs)} found in {redact(tracker.uri)}",
                            fix="run the pipeline twice, or name the runs: make runs-diff A=<run> B=<run>")
        return runs[default]
    found = [r for r in runs if r.info.run_id.startswith(ref)]
    if len(found) != 1:
        raise DataError(f"{'no' if not found else len(found)} tracked run(s) start with {ref!r}",
                        fix="copy a run id (or enough of it to be unique) from `make runs`")
    return found[0]


def diff_runs(a: Any, b: Any) -> str:
    """Settings that differ and every score, side by side."""
    def header(label: str, r: Any) -> str:
        extra = [f"commit {commit_of(r)}", "synthetic data" if r.data.params.get("synthetic") == "true" else ""]
        if r.data.tags.get("kaggle_message"):
            extra.append(f"uploaded as {r.data.tags['kaggle_message']!r}")
        return f"{label} = {r.info.run_id[:12]}  {r.info.run_name}  {started(r)}  " + ", ".join(e for e in extra if e)

    pa, pb = a.data.params, b.data.params
    keys = sorted(set(pa) | set(pb))
    changed = [k for k in keys if pa.get(k) != pb.get(k) and k != "git_dirty"]
    lines = [header("A", a), header("B", b), ""]
    width = max([len(k) for k in changed] + [7])
    if changed:
        lines.append(f"{'setting':<{width}}  {'A':<24}  B")
        lines += [f"{k:<{width}}  {short(pa.get(k, '-'), 24):<24}  {short(pb.get(k, '-'), 24)}" for k in changed]
    else:
        lines.append("no setting differs")
    lines.append(f"({len(keys) - len(changed)} settings equal)")
    ma, mb = a.data.metrics, b.data.metrics
    names = sorted(set(ma) | set(mb))
    width = max([len(k) for k in names] + [6])
    lines += ["", f"{'metric':<{width}}  {'A':>10}  {'B':>10}  {'B - A':>10}"]
    for k in names:
        va, vb = ma.get(k), mb.get(k)
        delta = fmt(vb - va, "+") if va is not None and vb is not None else ""
        lines.append(f"{k:<{width}}  {fmt(va) if va is not None else '-':>10}  {fmt(vb) if vb is not None else '-':>10}"
                     f"  {delta:>10}")
    return "\n".join(lines)


def ui(tracker: Tracker, mlflow: Path, port: int) -> int:
    """Start ``mlflow ui`` on the store (a server's URI is already a UI: it is printed instead)."""
    if tracker.uri.startswith(("http://", "https://")):
        print(f"the runs are on a tracking server: open {redact(tracker.uri)} in a browser")
        return 0
    if not mlflow.exists():
        raise DataError(f"the MLflow UI is not installed at {mlflow}", fix="run `make runs-ui` (it installs it)")
    print(f"MLflow UI on {redact(tracker.uri)}: http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    # One worker: a UI for one person, on a machine that may be training.
    os.execv(str(mlflow), [str(mlflow), "ui", "--backend-store-uri", tracker.uri, "--host", "127.0.0.1",
                           "--port", str(port), "--workers", "1"])
    return 0  # pragma: no cover - execv does not return


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.runs", description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment (pets: the pets runs)")
    sub = ap.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="the last runs as a table")
    ls.add_argument("--last", type=int, default=20)
    ls.add_argument("--command", default=None, help="only runs of this command (submit, backtest, tune, bench)")
    df = sub.add_parser("diff", help="two runs side by side")
    df.add_argument("a", nargs="?", default=None)
    df.add_argument("b", nargs="?", default=None)
    u = sub.add_parser("ui", help="the MLflow UI")
    u.add_argument("--mlflow", type=Path, default=Path(".venv-ui/bin/mlflow"))
    u.add_argument("--port", type=int, default=5000)
    args = ap.parse_args(argv)
    tracker = open_store(args.experiment)
    if args.action == "list":
        print(list_runs(tracker, args.last, args.command))
    elif args.action == "diff":
        print(diff_runs(resolve(tracker, args.a, 1), resolve(tracker, args.b, 0)))
    else:
        return ui(tracker, args.mlflow, args.port)
    return 0


if __name__ == "__main__":
    run_cli(main)
