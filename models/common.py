"""What every model shares: reading the feature files, the pseudo-test windows, writing outputs.

A model is one recipe, ``fit_predict(train, test, meta) -> (prediction, info)``: train on a
feature table's train part, predict its test part. :func:`run_stage` applies that same recipe to
every pseudo-test window (``BUILD_DIR/features/windows/w<k>/``: train up to the window's gap,
predict the window, score against its labels) and then to the competition (all of train, the real
test). No window's labels reach its fit, so each window's score is out-of-sample and the mean
over windows is the model's reported RMSPE. Predictions, submission and scores are written here,
so the ensembler and the report can treat every model the same way.
"""
from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from competition.dataset import PARQUET_KEY, Dataset, read_record, require_match
from competition.metric import rmspe
from competition.pseudo_test import LAST_DAYS, Window, estimate, last_days
from core.errors import DataError
from core.io import sha256_of, write_parquet
from models.inputs import StageInputs, read_stage_record, record_path, tables_digest, write_stage_record
from submissions.score_store import record_model, update_scores
from submissions.writer import to_submission, write_submission, zero_when_closed

# A recipe: (train table, test table, meta) -> (test prediction, what to record about the fit).
FitPredict = Callable[[pd.DataFrame, pd.DataFrame, dict[str, Any]], tuple[np.ndarray, dict[str, Any]]]


def load_feature_tables(build_dir: str | Path, window: str | None = None, inputs: StageInputs | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(train, test, meta)`` from ``BUILD_DIR/features`` (or of pseudo-test window ``w<k>``);
    with ``inputs``, only the columns a model reads (``StageInputs.read_columns``)."""
    fdir = Path(build_dir) / "features"
    if window is not None:
        fdir = fdir / "windows" / window
    paths = [fdir / "train.parquet", fdir / "test.parquet", fdir / "meta.json"]
    for path in paths:
        if not path.exists():
            raise DataError("the feature files are missing", file=path,
                            fix=f"run `make features BUILD_DIR={build_dir}` first")
    meta = json.loads(paths[2].read_text())
    return _read_table(paths[0], inputs), _read_table(paths[1], inputs), meta


def _read_table(path: Path, inputs: StageInputs | None) -> pd.DataFrame:
    if inputs is None:
        return pd.read_parquet(path)
    return pd.read_parquet(path, columns=inputs.read_columns(pq.read_schema(path).names))


def _scored(df: pd.DataFrame) -> pd.Series:
    # Only open days with sales are learned from and scored: RMSPE ignores zero-sales days and
    # closed days are set to 0 in the submission anyway.
    return (df["Open"] == 1) & (df["Sales"] > 0)


def training_frames(train: pd.DataFrame, meta: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fit_df, inner_df)``: open days with Sales > 0 before / inside a table's inner split (its
    last test-length stretch of train, ``meta["valid_start"]``). Inside one table only: what a
    recipe may use to monitor itself, or a tuning study to rank trials; never a reported score."""
    start = pd.Timestamp(meta["valid_start"])
    end = pd.Timestamp(meta.get("valid_end", train["Date"].max()))
    keep = _scored(train)
    fit = train[keep & (train["Date"] < start)].reset_index(drop=True)
    valid = train[keep & (train["Date"] >= start) & (train["Date"] <= end)].reset_index(drop=True)
    if fit.empty or valid.empty:
        raise DataError(f"the split at {start.date()} leaves {len(fit)} training and {len(valid)} validation rows",
                        file=Path("features/meta.json"), column="valid_start",
                        fix="rebuild the features (`make features`) so valid_start lies inside the train dates")
    return fit, valid


def fit_frame(train: pd.DataFrame) -> pd.DataFrame:
    """All open train days with Sales > 0: what a recipe learns from."""
    return train[_scored(train)].reset_index(drop=True)


def sample_submission(build_dir: str | Path) -> pd.DataFrame:
    """The competition's sample submission (the Id order Kaggle expects), as the features stage saved it."""
    path = Path(build_dir) / "features" / "sample_submission.parquet"
    if not path.exists():
        raise DataError("the sample submission of the feature build is missing", file=path,
                        fix=f"rebuild the features: `make features BUILD_DIR={build_dir}`")
    return pd.read_parquet(path)


def tuned_params(build_dir: str | Path, name: str) -> dict[str, Any] | None:
    """Best parameters of an Optuna study (``BUILD_DIR/tuning/<name>.json``), or None."""
    path = Path(build_dir) / "tuning" / f"{name}.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if (Path(build_dir) / "features" / "meta.json").exists():
        # Parameters tuned on other data (the synthetic set, say) are not this data's best.
        require_match(features_dataset(load_feature_tables_meta(Path(build_dir))), doc.get("dataset"), path,
                      f"tune again on these features (`make tune MODEL={name} BUILD_DIR={build_dir}`) or delete "
                      f"{path} to use the defaults")
    return doc.get("params", doc)


def cli_params(value: str) -> dict[str, Any]:
    """A stage's ``--params``: a JSON object, or the path of a file holding one (``make`` passes
    files: ``MLP_PARAMS=params.json``, no quoting of JSON through make and the shell)."""
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"--params is neither a file nor valid JSON: {err}", file=path if path.is_file() else None,
                        column="--params",
                        fix="""pass a JSON object, e.g. '{"num_leaves": 63}', or a file holding one""") from None
    if not isinstance(params, dict):
        raise DataError(f"--params must be a JSON object, got {type(params).__name__}", column="--params",
                        fix="""e.g. {"num_leaves": 63}""")
    return params


def layered_params(build_dir: str | Path, name: str, cli: str | None,
                   log: Callable[[str], None] = print) -> tuple[dict[str, Any], str]:
    """A model's parameters over its defaults: ``B/tuning/<name>.json`` (``make tune``), then
    ``--params`` on top. Returns the merged overrides and where they came from: "defaults",
    the tuning file's path, either followed by " + --params"."""
    path = Path(build_dir) / "tuning" / f"{name}.json"
    tuned = tuned_params(build_dir, name)
    if tuned:
        log(f"{name}: using tuned parameters from {path}: {json.dumps(tuned, sort_keys=True)}")
    else:
        log(f"{name}: no {path}; using the default parameters (`make tune MODEL={name}` tunes them)")
    params, source = dict(tuned or {}), str(path) if tuned else "defaults"
    if cli:
        override = cli_params(cli)
        log(f"{name}: --params override: {json.dumps(override, sort_keys=True)}")
        params.update(override)
        source += " + --params"
    return params, source


def features_dataset(meta: dict[str, Any]) -> Dataset | None:
    """The dataset a feature build was made from (None for a build that predates dataset records)."""
    if "data_fingerprint" not in meta:
        return None
    return Dataset(str(meta.get("data_dir", "?")), str(meta["data_fingerprint"]), str(meta.get("source", "?")))


def check_features_dataset(build_dir: Path, meta: dict[str, Any]) -> Dataset | None:
    """The features' dataset, refused (exit 2) when it is not the one the build records in
    ``dataset.json`` (``make data`` writes it for the current ``DATA_DIR``)."""
    require_match(read_record(build_dir), meta.get("data_fingerprint"), build_dir / "features" / "meta.json",
                  f"rebuild the features from the current data: `make features BUILD_DIR={build_dir} DATA_DIR=...`")
    return features_dataset(meta)


def window_score(labels: pd.DataFrame, pred: np.ndarray) -> dict[str, Any]:
    """RMSPE of one window, overall and on its last LAST_DAYS dates."""
    y = labels["Sales"].to_numpy(np.float64)
    last = last_days(labels["Date"])
    return {"rmspe": rmspe(y, pred), f"rmspe_last{LAST_DAYS}": rmspe(y[last], pred[last])}


def closed_to_zero(test: pd.DataFrame, pred: np.ndarray) -> np.ndarray:
    """``pred`` with 0 on the test's closed days (what the submission says for them), checked finite."""
    pred = zero_when_closed(test["Open"], pred)
    if not np.isfinite(pred).all():
        raise ValueError("predictions contain NaN or infinity; check the model's inputs")
    return pred


def load_feature_tables_meta(build_dir: Path) -> dict[str, Any]:
    path = build_dir / "features" / "meta.json"
    if not path.exists():
        raise DataError("the feature files are missing", file=path,
                        fix=f"run `make features BUILD_DIR={build_dir}` first")
    return json.loads(path.read_text())


def dataset_fields(dataset: Dataset | None, csv: Path) -> dict[str, Any]:
    """What a scores.json entry records of where its file came from: the dataset's fingerprint
    and source, and the sha256 of the submission file it made (upload and summary check both)."""
    if dataset is None:
        return {}
    return {"dataset": dataset.fingerprint, "data_source": dataset.source, "submission_sha256": sha256_of(csv)}


@dataclass(frozen=True)
class WindowTables:
    """One pseudo-test window's tables, as a recipe sees them, and its labels (aligned to ``test``)."""
    window: Window
    train: pd.DataFrame
    test: pd.DataFrame
    meta: dict[str, Any]
    labels: pd.DataFrame


def load_windows(build_dir: str | Path, names: Iterable[str] | None = None,
                 inputs: StageInputs | None = None) -> Iterator[WindowTables]:
    """Every pseudo-test window of a feature build (or those in ``names``, e.g. ``["w2"]``), read
    one at a time (a stage holds one window's tables in memory; a study keeps them in a list);
    with ``inputs``, only the columns a model reads."""
    build_dir = Path(build_dir)
    meta = load_feature_tables_meta(build_dir)
    wanted = set(names) if names is not None else None
    found = [Window.from_dict(wd) for wd in meta.get("windows", [])]
    found = [w for w in found if wanted is None or w.name in wanted]
    if not found:
        raise DataError("the feature files list no pseudo-test window" + (f" named {sorted(wanted)}" if wanted else ""),
                        file=build_dir / "features" / "meta.json", column="windows",
                        fix=f"rebuild the features (`make features BUILD_DIR={build_dir}`) or pick listed windows")
    for w in found:
        train, test, wmeta = load_feature_tables(build_dir, w.name, inputs)
        labels = pd.read_parquet(build_dir / "features" / "windows" / w.name / "labels.parquet")
        if not np.array_equal(labels["Id"].to_numpy(), test["Id"].to_numpy()):
            labels = labels.set_index("Id").loc[test["Id"].to_numpy()].reset_index()
        yield WindowTables(w, train, test, wmeta, labels)


def score_windows(tables: Iterable[WindowTables], name: str, fit_predict: FitPredict,
                  log: Callable[[str], None] = print,
                  on_window: Callable[[int, float], None] | None = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The recipe on each window: pooled out-of-window predictions and per-window scores.
    ``on_window(step, rmspe)`` hears each window's score as it comes (tuning reports and prunes there)."""
    oof, records = [], []
    total = len(tables) if isinstance(tables, list) else None
    for step, t in enumerate(tqdm(tables, desc=f"{name}: pseudo-test windows", unit="window", leave=False,
                                  total=total)):
        w = t.window
        pred, info = fit_predict(t.train, t.test, t.meta)
        pred = closed_to_zero(t.test, pred)
        score = window_score(t.labels, pred)
        log(f"{name}: window {w.name} {w.start.date()}..{w.end.date()} (train to {w.train_end.date()}): "
            f"RMSPE {score['rmspe']:.4f}, last {LAST_DAYS} days {score[f'rmspe_last{LAST_DAYS}']:.4f}")
        records.append({**w.to_dict(), **score, **info})
        oof.append(pd.DataFrame({"Window": w.index, "Store": t.test["Store"].to_numpy(),
                                 "Date": t.test["Date"].to_numpy(), "Sales": t.labels["Sales"].to_numpy(),
                                 "prediction": pred}))
        if on_window is not None:
            on_window(step, score["rmspe"])
    return pd.concat(oof, ignore_index=True), records


def run_windows(build_dir: str | Path, name: str, fit_predict: FitPredict,
                log: Callable[[str], None] = print) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The recipe on every pseudo-test window: pooled out-of-window predictions and per-window scores."""
    # Streamed: a stage holds one window's tables at a time.
    return score_windows(load_windows(build_dir), name, fit_predict, log)


def summarize_windows(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over windows of each score, and the expected test RMSPE with its interval
    (``competition.pseudo_test.estimate``): the numbers a model is judged by."""
    out: dict[str, Any] = {}
    for key in ("rmspe", f"rmspe_last{LAST_DAYS}"):
        v = np.array([r[key] for r in records], dtype=np.float64)
        out[key] = float(v.mean())
        out[f"{key}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    out["n_windows"] = len(records)
    windows = [Window.from_dict(r) for r in records]
    out.update(estimate({w.name: r["rmspe"] for w, r in zip(windows, records)}, windows).to_dict())
    return out


def run_stage(build_dir: str | Path, name: str, fit_predict: FitPredict, extra: dict[str, Any] | None = None,
              log: Callable[[str], None] = print, inputs: StageInputs | None = None) -> dict[str, Any]:
    """The whole stage of one model: every window, then the competition's test; writes everything.

    With ``inputs`` the recipe sees only the columns the model reads, and the digests of what the
    predictions came from are recorded for :func:`kept_stage`. Returns the summary recorded in
    ``reports/scores.json`` (``rmspe`` is the mean of the window scores; ``seconds`` and
    ``peak_rss_mb`` cover every fit of the stage).
    """
    t0 = time.perf_counter()
    build_dir = Path(build_dir)
    dataset = check_features_dataset(build_dir, load_feature_tables_meta(build_dir))
    digests = _code_and_settings(inputs)
    # Outputs written and then a crash must not leave them under the last run's record.
    record_path(build_dir, name).unlink(missing_ok=True)
    windows = load_windows(build_dir, inputs=inputs)
    if inputs is not None:
        windows = _digested(windows, digests["tables"])
    oof, records = score_windows(windows, name, fit_predict, log)
    train, test, meta = load_feature_tables(build_dir, inputs=inputs)
    test_pred, info = fit_predict(train, test, meta)
    # Linux reports ru_maxrss in KiB.
    cost = {"seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    summary = {**summarize_windows(records), "windows": records, "final": info, **cost, **(extra or {})}
    write_outputs(build_dir, name, oof, test, test_pred, summary, dataset)
    if inputs is not None:
        digests["tables"]["test"] = tables_digest(train, test, meta)
        write_stage_record(build_dir, name, digests, summary)
    log(f"{name}: expected test RMSPE {summary['estimate']:.4f} ({summary['estimate_low']:.4f}.."
        f"{summary['estimate_high']:.4f}) from {len(records)} windows (mean {summary['rmspe']:.4f}, last "
        f"{LAST_DAYS} days {summary[f'rmspe_last{LAST_DAYS}']:.4f}); "
        f"{cost['seconds']:.1f} s, peak RSS {cost['peak_rss_mb']} MB; wrote "
        f"{build_dir / 'submissions' / (name + '.csv')}")
    return summary


def _code_and_settings(inputs: StageInputs | None) -> dict[str, Any]:
    if inputs is None:
        return {}
    return {"settings": inputs.settings_digest(), "code": inputs.code_digest(), "tables": {}}


def _digested(windows: Iterable[WindowTables], into: dict[str, str]) -> Iterator[WindowTables]:
    for t in windows:
        into[t.window.name] = tables_digest(t.train, t.test, t.labels, t.meta)
        yield t


def kept_stage(build_dir: str | Path, name: str, inputs: StageInputs,
               log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """The summary of the stage's last run when everything its predictions came from is unchanged:
    the columns ``inputs`` names in every table (and each window's meta and labels), the settings
    and the code. Then the predictions and the submission are kept (touched, so that ``make`` sees
    them up to date) and the summary is recorded in scores.json again. None: train (no record,
    a missing output, or something changed, which it logs)."""
    build_dir = Path(build_dir)
    record = read_stage_record(build_dir, name)
    outputs = [build_dir / "predictions" / f"{name}.{part}.parquet" for part in ("oof", "test")]
    outputs.append(build_dir / "submissions" / f"{name}.csv")
    if record is None or not all(p.exists() for p in outputs):
        return None
    dataset = check_features_dataset(build_dir, load_feature_tables_meta(build_dir))
    old = record["digests"]
    now = _code_and_settings(inputs)
    changed = [what for k, what in (("settings", "its columns or settings"), ("code", "its code"))
               if now[k] != old.get(k)]
    if not changed:
        # Window by window, up to the first change: each digest reads that window's tables.
        for t in load_windows(build_dir, inputs=inputs):
            if tables_digest(t.train, t.test, t.labels, t.meta) != old["tables"].get(t.window.name):
                changed.append(f"window {t.window.name}'s tables")
                break
            now["tables"][t.window.name] = old["tables"][t.window.name]
    if not changed and now["tables"].keys() != old["tables"].keys() - {"test"}:
        changed.append("the windows")
    if not changed and tables_digest(*load_feature_tables(build_dir, inputs=inputs)) != old["tables"].get("test"):
        changed.append("the competition's tables")
    if changed:
        log(f"{name}: training: {', '.join(changed)} changed since {record_path(build_dir, name)}")
        return None
    for path in outputs + [record_path(build_dir, name)]:
        os.utime(path)
    summary = record["summary"]
    record_summary(build_dir, name, summary, dataset)
    log(f"{name}: its columns, settings and code are unchanged since {record_path(build_dir, name)}: "
        f"kept its predictions (mean window RMSPE {summary['rmspe']:.4f})")
    return summary


def write_outputs(build_dir: str | Path, name: str, oof: pd.DataFrame, test: pd.DataFrame,
                  test_pred: np.ndarray, summary: dict[str, Any], dataset: Dataset | None = None) -> None:
    """Write one model's predictions, its submission and its scores.

    - ``predictions/<name>.oof.parquet``: Window, Store, Date, Sales (actual), prediction: the
      pooled out-of-window predictions of every pseudo-test window
    - ``predictions/<name>.test.parquet``: Id, Store, Date, Open, prediction (0 on closed days)
    - ``submissions/<name>.csv``
    - ``reports/scores.json``: ``models.<name>`` = ``summary`` (``rmspe`` = mean over windows)

    Each file records ``dataset`` (the data the features were made from), when given.
    """
    build_dir = Path(build_dir)
    provenance = {PARQUET_KEY: dataset.fingerprint} if dataset else {}
    test_pred = closed_to_zero(test, test_pred)
    pdir = build_dir / "predictions"
    write_parquet(oof, pdir / f"{name}.oof.parquet", provenance)
    write_parquet(pd.DataFrame({"Id": test["Id"].to_numpy(), "Store": test["Store"].to_numpy(),
                                "Date": test["Date"].to_numpy(), "Open": test["Open"].to_numpy(),
                                "prediction": test_pred}), pdir / f"{name}.test.parquet", provenance)
    write_submission(to_submission(test, test_pred), sample_submission(build_dir),
                     build_dir / "submissions" / f"{name}.csv")
    record_summary(build_dir, name, summary, dataset)


def record_summary(build_dir: Path, name: str, summary: dict[str, Any], dataset: Dataset | None) -> None:
    """A model's entry in ``reports/scores.json``, and the windows its predictions (written) were scored on."""
    csv = build_dir / "submissions" / f"{name}.csv"
    record_model(build_dir, name, summary["rmspe"],
                 {**{k: v for k, v in summary.items() if k != "rmspe"}, **dataset_fields(dataset, csv)})
    windows = [{k: r[k] for k in ("index", "label", "kind", "start", "end", "train_end", "n_days") if k in r}
               for r in summary["windows"]]
    update_scores(build_dir, {"pseudo_test": {
        "kind": "pseudo-test windows, each shaped like the test (same length, stores and gap)",
        "windows": windows, "n_rows": pq.read_metadata(build_dir / "predictions" / f"{name}.oof.parquet").num_rows}})
