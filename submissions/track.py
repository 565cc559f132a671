"""What a pipeline command logs as its MLflow run, read from the files its build wrote.

``make submit``, ``make backtest`` and ``make bench`` end with ``python -m submissions.track
{submit,backtest,bench}``: one run per command, logged once at the end from ``BUILD_DIR`` (each
model's per-window scores, seconds and peak RSS in ``reports/scores.json``, the configs in
``models/<model>/config.json``, the settings in ``settings/<model>.txt``, the data's fingerprint
in ``features/meta.json``), with one nested run per model stage. Tracking never touches a
training process, and a make rule that was up to date logs what its files say.

The run carries the submission's sha256 as a tag: ``make upload`` finds the run that made the
file it sends and tags it with the message (:func:`tag_upload`), ``make leaderboard`` writes the
public and private scores back onto it (:func:`record_leaderboard`).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.tracking import RunRecord, Tracker, announce, enabled, flatten, git_diff, git_state

EXPERIMENT = "rossmann"
COMMANDS = ("submit", "backtest", "bench")
# The scalar entries of a model's scores.json record that are results; the rest are settings.
RESULT_PREFIXES = ("rmspe", "estimate")
COST_KEYS = ("seconds", "peak_rss_mb")
# Window fields that name the window rather than measure it.
WINDOW_IDS = ("index", "window", "n_days", "name")
# A model config's fields that are results of the run, not settings.
CONFIG_RESULTS = ("pseudo_test", "seconds")
# Upload and leaderboard tags and metrics (underscores: MLflow filters need no quoting then).
SHA_TAG = "submission_sha256"
UPLOADS_TAG = "kaggle_uploads"
MESSAGE_TAG = "kaggle_message"
PUBLIC, PRIVATE = "kaggle_public_score", "kaggle_private_score"


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict; {} when it is absent or unreadable (tracking reads, never judges)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def window_name(entry: dict[str, Any]) -> str:
    """``w<k>`` for a window record of scores.json (models' ``index``, the ensemble's ``window``)."""
    if entry.get("name"):
        return str(entry["name"])
    return f"w{entry.get('index', entry.get('window', '?'))}"


def window_scores(name: str, entry: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{window: {field: number}}`` for one model: each window's scores and fit record. The
    ensemble's windows hold every model's held-out score (``models``); its own is taken."""
    out = {}
    for w in entry.get("windows") or []:
        if not isinstance(w, dict):
            continue
        fields = w["models"].get(name, {}) if isinstance(w.get("models"), dict) else w
        fields = {**{k: v for k, v in w.items() if k != "models"}, **fields}
        out[window_name(w)] = {k: float(v) for k, v in fields.items() if _number(v) and k not in WINDOW_IDS}
    return out


def model_results(entry: dict[str, Any]) -> dict[str, float]:
    """A model's scores (mean over windows, sd, last days, estimate and its interval) and costs."""
    return {k: float(v) for k, v in entry.items()
            if _number(v) and (k.startswith(RESULT_PREFIXES) or k in COST_KEYS or k == "factor")}


def model_config(build_dir: Path, name: str) -> dict[str, str]:
    """The settings a model ran with: its saved config, minus what the run measured."""
    doc = read_json(build_dir / "models" / name / "config.json")
    return {k: v for k, v in flatten(doc).items() if not k.startswith(CONFIG_RESULTS)}


def tuned(build_dir: Path, name: str) -> dict[str, str]:
    doc = read_json(build_dir / "tuning" / f"{name}.json")
    return flatten(doc.get("params", doc)) if doc else {}


def submitted_model(build_dir: Path, models: list[str]) -> str | None:
    """Which model's csv ``submission.csv`` is a copy of (None: unknown or no submission)."""
    subs = build_dir / "submissions"
    final = subs / "submission.csv"
    if not final.exists():
        return None
    digest = file_sha256(final)
    for name in sorted(models, key=lambda n: n != "ensemble"):
        if (subs / f"{name}.csv").exists() and file_sha256(subs / f"{name}.csv") == digest:
            return name
    return None


def stage_record(build_dir: Path, name: str, entry: dict[str, Any]) -> RunRecord:
    """The nested run of one model stage: its config, settings, scores per window, costs, files."""
    settings = build_dir / "settings" / f"{name}.txt"
    params: dict[str, Any] = {**model_config(build_dir, name),
                              **{f"tuned.{k}": v for k, v in tuned(build_dir, name).items()}}
    if settings.exists():
        params["settings"] = settings.read_text().strip()
    # What the stage decided or ran with that its scores.json record states as text
    # (the ensemble's procedure, space and models; a model's params_source).
    params.update({k: v for k, v in flatten(entry).items()
                   if not k.startswith(("windows", "final", "held_out", "segment_checks")) and k not in params
                   and not _number(entry.get(k)) and k.count(".") == 0})
    metrics = model_results(entry)
    metrics.update({f"weight.{m}": w for m, w in (entry.get("weights") or {}).items() if _number(w)})
    for w, fields in window_scores(name, entry).items():
        metrics.update({f"{w}.{k}": v for k, v in fields.items()})
    mdir = build_dir / "models" / name
    record = RunRecord(name=name, params=params, metrics=metrics, tags={"stage": name})
    record.add_files(sorted(mdir.glob("*.json")) + sorted(mdir.glob("*.png")), f"models/{name}")
    record.add_files([settings], "settings")
    record.add_files([build_dir / "tuning" / f"{name}.json"], "tuning")
    if name == "ensemble":
        record.add_files([build_dir / "ensemble" / "decision.json"], "ensemble")
    return record


def window_records(models: dict[str, Any]) -> list[RunRecord]:
    """One nested run per window: every model's score on it (for the backtest's many windows)."""
    by_window: dict[str, dict[str, float]] = {}
    for name, entry in models.items():
        for w, fields in window_scores(name, entry).items():
            by_window.setdefault(w, {}).update({f"{name}.{k}": v for k, v in fields.items()
                                                if k.startswith(RESULT_PREFIXES)})
    return [RunRecord(name=w, metrics=scores, tags={"window": w}) for w, scores in by_window.items()]


def pipeline_record(build_dir: Path, data_dir: Path | None, command: str, settings: dict[str, str],
                    window_runs: bool = False) -> RunRecord:
    """The run of one pipeline command, from its build folder's files."""
    doc = read_json(build_dir / "reports" / "scores.json")
    models = {k: v for k, v in (doc.get("models") or {}).items() if isinstance(v, dict)}
    meta = read_json(build_dir / "features" / "meta.json")
    dataset = read_json(build_dir / "dataset.json")
    git = git_state()
    synthetic = meta.get("source") == "synthetic" or dataset.get("synthetic") is True
    params: dict[str, Any] = {**git, **settings, "synthetic": str(synthetic).lower(),
                              "data_fingerprint": meta.get("data_fingerprint"), "data_source": meta.get("source"),
                              "features.code_hash": meta.get("code_hash"),
                              "windows": ", ".join(f"{window_name(w)} {w.get('start')}..{w.get('end')}"
                                                   for w in meta.get("windows", []) if isinstance(w, dict))}
    if data_dir is not None:
        params["data_dir"] = str(data_dir.resolve())
    params.update({f"dataset.{k}": v for k, v in flatten(dataset).items()})
    for name in models:
        params.update({f"{name}.{k}": v for k, v in model_config(build_dir, name).items()})
        params.update({f"tuned.{name}.{k}": v for k, v in tuned(build_dir, name).items()})

    metrics: dict[str, float] = {}
    for name, entry in models.items():
        metrics.update({f"{name}.{k}": v for k, v in model_results(entry).items()})
        for w, fields in window_scores(name, entry).items():
            metrics.update({f"{name}.{w}.{k}": v for k, v in fields.items()
                            if k.startswith(RESULT_PREFIXES) or k.endswith("seconds")})
    if _number(meta.get("build_seconds")):
        metrics["features.seconds"] = float(meta["build_seconds"])

    tags = {"command": command, "build_dir": str(build_dir.resolve()), "synthetic": str(synthetic).lower(),
            "mlflow.source.git.commit": git["git_commit"], "mlflow.source.name": f"make {command}"}
    final = build_dir / "submissions" / "submission.csv"
    chosen = submitted_model(build_dir, list(models))
    if final.exists():
        tags[SHA_TAG] = file_sha256(final)
        metrics["submission.rows"] = float(sum(1 for _ in final.open()) - 1)
    if chosen:
        # The number `make submit` reports for the file it wrote: the estimate when the build
        # records one, else the pseudo-test RMSPE (mean over windows) of the model sent.
        tags["submission_model"] = chosen
        entry = models[chosen]
        for key in ("estimate", "estimate_low", "estimate_high"):
            if _number(entry.get(key)):
                metrics[key] = float(entry[key])
        if "estimate" not in metrics and _number(entry.get("rmspe")):
            metrics["estimate"] = float(entry["rmspe"])
            tags["estimate_is"] = f"{chosen} pseudo-test RMSPE, mean over windows"

    record = RunRecord(name=command, params=params, metrics=metrics, tags=tags)
    reports = build_dir / "reports"
    record.add_files([reports / "scores.json", reports / "report.md"] + sorted(reports.glob("*.png")), "reports")
    record.add_files([build_dir / "features" / "meta.json"], "features")
    record.add_files([build_dir / "dataset.json"])
    record.add_files(sorted((build_dir / "settings").glob("*.txt")), "settings")
    record.add_files([final], "submissions")
    record.add_files([build_dir / "ensemble" / "decision.json"], "ensemble")
    for name in models:
        record.add_files([build_dir / "models" / name / "config.json"], f"models/{name}")
    if git["git_dirty"] == "true":
        record.texts.append((git_diff(), "git.diff"))
    record.children = [stage_record(build_dir, name, entry) for name, entry in models.items()]
    if window_runs:
        record.children += window_records(models)
    return record


def add_bench(record: RunRecord, bench_dir: Path) -> None:
    """`make bench`'s measurements: each stage's wall and CPU time, peak RSS and score, the matmul
    peak, the MLP epoch and the scaling fits, and its result files."""
    results = read_json(bench_dir / "results.json")
    for stage, st in (results.get("stages") or {}).items():
        key = stage.removeprefix("train ")
        record.metrics.update({f"{key}.{k}": float(v) for k, v in st.items()
                               if k in ("wall_s", "cpu_s", "peak_rss_mb", "rmspe", "repeats") and _number(v)})
    for group in ("matmul", "mlp_epoch"):
        record.metrics.update({f"{group}.{k}": float(v) for k, v in (results.get(group) or {}).items() if _number(v)})
    for fit, values in ((results.get("scaling") or {}).get("fits") or {}).items():
        record.metrics.update({f"scaling.{fit}.{k}": float(v) for k, v in values.items() if _number(v)})
    record.params.update({f"machine.{k}": v for k, v in (results.get("machine") or {}).items()})
    record.params.setdefault("data_fingerprint", results.get("data_fingerprint"))
    record.add_files([bench_dir / "results.json", bench_dir / "results.md", bench_dir / "scaling.png"], "bench")


def command_record(command: str, build_dir: Path, data_dir: Path | None, settings: dict[str, str]) -> RunRecord:
    if command == "bench":
        record = pipeline_record(build_dir / "bench" / "work" / "build", data_dir, command, settings)
        record.tags["build_dir"] = str(build_dir.resolve())
        add_bench(record, build_dir / "bench")
        return record
    record = pipeline_record(build_dir, data_dir, command, settings, window_runs=command == "backtest")
    if command == "backtest":
        record.add_files([build_dir / "results.md", build_dir / "results.json"], "backtest")
    return record


def record_digest(record: RunRecord) -> str:
    """A digest of what the run would log: the same build logged twice is one run."""
    h = hashlib.sha256(json.dumps([record.params, record.metrics, record.tags], sort_keys=True,
                                  default=str).encode())
    return h.hexdigest()


def track_command(command: str, build_dir: Path, data_dir: Path | None, settings: dict[str, str],
                  tracker: Tracker | None = None) -> str | None:
    """Log the command's run unless an identical one exists; the run id (None: not tracked)."""
    if not enabled():
        return None
    tracker = tracker or Tracker(EXPERIMENT)
    record = command_record(command, build_dir, data_dir, settings)
    digest = record_digest(record)
    same = tracker.search(f"tags.record_sha256 = '{digest}'", max_results=1)
    if same:
        print(f"tracked: nothing changed since run {same[0].info.run_id[:12]} (`make runs` lists runs)")
        return same[0].info.run_id
    record.tags["record_sha256"] = digest
    run_id = tracker.record(record)
    announce(run_id, tracker, f"make {command}")
    return run_id


# -- uploads and leaderboard ----------------------------------------------------------------------
def tag_upload(row: dict[str, str], tracker: Tracker | None = None) -> str | None:
    """Tag the newest run that made the uploaded file (by its sha256) with the upload's message and
    time; the run id, or None. Called by ``submissions.upload`` after the upload succeeded."""
    if not enabled():
        return None
    tracker = tracker or Tracker(EXPERIMENT)
    with tracker.guard("tagging the uploaded run"):
        return _tag_upload(row, tracker)
    return None


def _tag_upload(row: dict[str, str], tracker: Tracker) -> str | None:
    runs = tracker.search(f"tags.{SHA_TAG} = '{row['sha256']}'", max_results=1, all_experiments=True)
    if not runs:
        if tracker.on:
            print(f"note: no tracked run made {row['file']} (was it built with TRACKING=0?); the upload is "
                  "logged in submissions/log.csv only")
        return None
    run = runs[0]
    uploads = json.loads(run.data.tags.get(UPLOADS_TAG, "[]"))
    uploads.append({"time_utc": row["time_utc"], "message": row["message"]})
    tracker.log(run.info.run_id, tags={MESSAGE_TAG: row["message"], "kaggle_uploaded_utc": row["time_utc"],
                                       UPLOADS_TAG: json.dumps(uploads)})
    if tracker.on:
        print(f"tagged run {run.info.run_id[:12]} with the upload (`make leaderboard` adds its score)")
        return run.info.run_id
    return None


def parse_submissions(text: str) -> list[dict[str, str]]:
    """The rows of ``kaggle competitions submissions``' table (fixed-width columns under a line of
    dashes), or of its ``--csv`` output."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if "publicScore" in line and set(lines[i + 1].strip()) <= {"-", " "} and lines[i + 1].strip():
            spans = [m.span() for m in re.finditer(r"-+", lines[i + 1])]
            names = [line[a:b].strip() for a, b in spans]
            starts = [a for a, _ in spans] + [None]
            return [{n: row[starts[k]:starts[k + 1]].strip() for k, n in enumerate(names)}
                    for row in lines[i + 2:] if row.strip()]
        if line.startswith(("ref,", "fileName,")) and "publicScore" in line:
            return list(csv.DictReader(lines[i:]))
    return []


def parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_score(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "None") else None
    except ValueError:
        return None


def record_leaderboard(output: str, tracker: Tracker | None = None) -> int:
    """Write each scored Kaggle submission's public (and private) score onto the run it was
    uploaded from (matched by message, then by the upload time nearest Kaggle's); how many runs."""
    if not enabled():
        return 0
    tracker = tracker or Tracker(EXPERIMENT)
    with tracker.guard("writing Kaggle scores back"):
        return _record_leaderboard(output, tracker)
    return 0


def _record_leaderboard(output: str, tracker: Tracker) -> int:
    rows = [r for r in parse_submissions(output) if parse_score(r.get("publicScore")) is not None]
    if not rows:
        return 0
    uploads = []
    for run in tracker.search(f"tags.{UPLOADS_TAG} LIKE '%'", all_experiments=True):
        for up in json.loads(run.data.tags.get(UPLOADS_TAG, "[]")):
            uploads.append((run, up["message"], parse_time(up["time_utc"])))
    written = 0
    for row in rows:
        matches = [(run, when) for run, message, when in uploads if message == row.get("description", "")]
        if not matches:
            continue
        kaggle_time = parse_time(row.get("date", ""))
        if kaggle_time is not None and all(w is not None for _, w in matches):
            run = min(matches, key=lambda m: abs((m[1] - kaggle_time).total_seconds()))[0]
        else:
            run = matches[-1][0]
        metrics = {PUBLIC: parse_score(row.get("publicScore")), PRIVATE: parse_score(row.get("privateScore"))}
        tracker.log(run.info.run_id, metrics=metrics, tags={"kaggle_ref": row.get("ref"),
                                                            "kaggle_status": row.get("status")})
        if tracker.on:
            written += 1
    if written:
        print(f"wrote {written} Kaggle score(s) back onto their tracked runs (`make runs` shows them)")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m submissions.track", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=COMMANDS)
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a make setting the run depends on (repeatable); the last of a name wins")
    args = ap.parse_args(argv)
    settings = dict(s.partition("=")[::2] for s in args.setting)
    tracker = Tracker(EXPERIMENT)
    # Tracking must never fail the command it records, whatever goes wrong in here.
    with tracker.guard(f"reading {args.build_dir}"):
        track_command(args.command, args.build_dir, args.data_dir, settings, tracker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
