"""``python -m ensembling``: fit the ensemble on a build's out-of-window predictions
(``ensembling.ensemble.fit_ensemble``), predict the test, write ``submissions/ensemble.csv``,
``submission.csv``, ``ensemble/`` and the ensemble's ``scores.json`` entry, and print the
summary."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from competition.dataset import identify, require_match
from competition.pseudo_test import LAST_DAYS
from core.io import atomic_path, sha256_of, write_json_atomic, write_with
from ensembling.ensemble import (
    DEFAULT_MIN_GAIN,
    DEFAULT_SEGMENTS,
    DEFAULT_STRENGTH,
    Decision,
    apply_ensemble,
    fit_ensemble,
)
from ensembling.inputs import load_meta, load_predictions, load_segments, load_windows, model_names
from ensembling.outputs import record_ensemble, write_submission_file


def run_ensemble(build_dir: Path, data_dir: Path, only: list[str] | None = None,
                 segment_columns: tuple[str, ...] | list[str] = DEFAULT_SEGMENTS,
                 min_gain: float = DEFAULT_MIN_GAIN, strength: float = DEFAULT_STRENGTH) -> Decision:
    """Fit on the out-of-window predictions, predict test, write the submission files and the report entry."""
    names = model_names(build_dir, only)
    dataset = identify(data_dir)
    require_match(dataset, load_meta(build_dir).get("data_fingerprint"), build_dir / "features" / "meta.json",
                  f"rebuild the features from the current data: `make features BUILD_DIR={build_dir} "
                  f"DATA_DIR={data_dir}`")
    oof = load_predictions(build_dir, names, "oof", dataset)
    test = load_predictions(build_dir, names, "test", dataset)
    seg_oof = load_segments(build_dir, "oof", oof)
    seg_test = load_segments(build_dir, "test", test)

    fitted = fit_ensemble(oof, names, seg_oof, load_windows(build_dir), segment_columns, min_gain, strength)
    decision = fitted.decision

    # The ensemble's own predictions live under ensemble/, not predictions/: the latter is what
    # this stage reads, and a blend must never blend itself on the next run.
    out_oof = oof[["Window", "Store", "Date", "Sales"]].copy()
    out_oof["prediction_in_sample"] = apply_ensemble(oof, names, seg_oof, decision)
    out_oof["prediction"] = np.nan
    out_oof.loc[fitted.scored, "prediction"] = fitted.out_of_window
    assert np.allclose(out_oof.loc[fitted.scored, "prediction_in_sample"].to_numpy(), fitted.in_sample,
                       rtol=1e-9, atol=1e-6)
    out_test = test[["Id", "Store", "Date"]].copy()
    out_test["prediction"] = apply_ensemble(test, names, seg_test, decision)
    ens_dir = build_dir / "ensemble"
    write_with(ens_dir / "oof.parquet", lambda p: out_oof.to_parquet(p, index=False))
    write_with(ens_dir / "test.parquet", lambda p: out_test.to_parquet(p, index=False))
    doc = decision.to_dict()
    write_json_atomic(ens_dir / "decision.json", doc)

    sub_dir = build_dir / "submissions"
    ensemble_csv = sub_dir / "ensemble.csv"
    write_submission_file(out_test.rename(columns={"prediction": "Sales"})[["Id", "Sales"]], data_dir, ensemble_csv)
    with atomic_path(sub_dir / "submission.csv") as tmp:
        shutil.copyfile(ensemble_csv, tmp)

    # The per-store factor table is too long for scores.json; decision.json keeps it whole.
    entry = {k: v for k, v in doc.items() if k != "rmspe"}
    if entry["segment"] and len(entry["segment"]["factors"]) > 60:
        entry["segment"] = {**entry["segment"], "factors": f"{len(entry['segment']['factors'])} factors in "
                                                            f"ensemble/decision.json"}
    entry.update({**decision.estimates["ensemble"], "dataset": dataset.fingerprint,
                  "data_source": dataset.source, "submission_sha256": sha256_of(sub_dir / "submission.csv")})
    record_ensemble(build_dir, decision.rmspe, entry)
    return decision


def format_summary(decision: Decision) -> str:
    last = f"rmspe_last{LAST_DAYS}"
    windows = decision.windows
    names = decision.models + ["ensemble"]
    est = decision.estimates
    head = f"{'model':<12}" + "".join(f"{'w' + str(w['window']):>9}" for w in windows) \
        + f"{'last ' + str(LAST_DAYS) + 'd':>9}   expected test RMSPE"
    lines = ["pseudo-test windows: " + ", ".join(f"w{w['window']} {w['label']} {w['start']}..{w['end']}"
                                                 for w in windows),
             f"{decision.n_rows_scored} rows with Sales > 0; every score is out-of-window (the ensemble's: "
             "decided and fitted on the windows before each one only)", "", head]
    for n in sorted(names, key=lambda n: est[n]["estimate"]):
        scores = [w["models"][n]["rmspe"] for w in windows]
        e = est[n]
        lines.append(f"{n:<12}" + "".join(f"{v:>9.4f}" for v in scores)
                     + f"{np.mean([w['models'][n][last] for w in windows]):>9.4f}"
                     + f"   {e['estimate']:.4f} ({e['estimate_low']:.4f}..{e['estimate_high']:.4f})")
    lines += ["", "window weights of the estimate: " + ", ".join(
        f"{k} {v:.2f}" for k, v in est["ensemble"]["estimate_weights"].items()),
              f"ensemble in-sample (the final blend on the rows it was fitted on; not a score): "
              f"{decision.rmspe_in_sample:.4f}",
              "each window's blend: " + "; ".join(
                  f"w{h['window']} {h['procedure']}" + (f" from {', '.join('w' + str(v) for v in h['fitted_on'])}"
                                                        if h["fitted_on"] else " (the prior: no earlier window)")
                  for h in decision.held_out),
              "procedures, scored causally on all windows (simplest within min-gain of the best wins): "
              + ", ".join(f"{p} {v:.4f}" for p, v in decision.procedure_rmspe_causal.items()),
              f"chosen for the test: {decision.procedure}, space {decision.space}, factor "
              f"{decision.factor:.4f}, weights " + ", ".join(f"{n}={w:.3f}" for n, w in decision.weights.items())]
    for c in decision.segment_checks:
        lines.append(f"segment factor per {c['column']:<12} gains on the windows scored causally "
                     + (" / ".join(f"{g:+.5f}" for g in c["gains"]) or "none (no window has an earlier one)")
                     + ("  accepted" if c["accepted"] else "  rejected"))
    seg = decision.segment
    lines.append(f"used: {'per-' + seg.column + ' factors' if seg else 'no segment factors'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--data-dir", type=Path, required=True, help="for sample_submission.csv")
    ap.add_argument("--models", nargs="*", help="blend only these models (default: every model with predictions)")
    ap.add_argument("--segments", nargs="*", default=list(DEFAULT_SEGMENTS),
                    help="candidate columns for per-segment factors (none: global factor only)")
    ap.add_argument("--min-gain", type=float, default=DEFAULT_MIN_GAIN)
    ap.add_argument("--strength", type=float, default=DEFAULT_STRENGTH)
    args = ap.parse_args(argv)
    decision = run_ensemble(args.build_dir, args.data_dir, args.models, args.segments, args.min_gain, args.strength)
    print(format_summary(decision))
    print(f"wrote {args.build_dir / 'submissions' / 'ensemble.csv'} and submission.csv")
    return 0
