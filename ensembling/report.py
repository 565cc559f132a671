"""``python -m ensembling.report --build-dir B``: where the models fail, not just one number.

Writes ``B/reports/report.md`` with PNGs beside it:
- RMSPE per model and for the ensemble on the pseudo-test windows (mean over windows; the
  ensemble's fitted on the other windows, see ensembling/ensemble.py);
- RMSPE by segment (StoreType, Assortment, State, Promo, day of week, holiday weeks, the place in
  the month, the week of the window) per model,
  so one sees which model to trust where, and where the blend gains;
- the store-days that weigh most in RMSPE, and per window the share of the one-off days (a
  fraction of the store's usual sales) and every model's RMSPE without them;
- the worst stores, actual vs predicted over the windows;
- the MLP's embedding maps, where ``make embeddings`` drew them (``reports/embeddings/``);
- a short data sheet: rows, date ranges, source, known quirks.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.metric import ONE_OFF_RATIO, one_off_rows, rmspe
from core.errors import DataError
from core.io import pyplot, save_png, write_text_atomic
from ensembling.inputs import USUAL, load_meta, load_oof, load_segments
from ensembling.outputs import model_scores, read_scores
from features.calendar import month_turn

SEGMENTS = ("StoreType", "Assortment", "State", "Promo", "DayOfWeek", "HolidayWeek", "SchoolHoliday", "MonthTurn",
            "WindowWeek")
N_WORST = 6
N_HEAVIEST = 10


def _save(fig: Any, path: Path) -> None:
    save_png(fig, path, bbox_inches="tight")


def load_frame(build_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Out-of-window rows with every model's prediction (+ the ensemble's, fitted on the other
    windows), segments attached, Sales > 0."""
    valid, cols = load_oof(build_dir)
    seg = load_segments(build_dir, "oof", valid)
    seg = seg.drop(columns=[c for c in ("Store", "Date") if c in seg.columns])
    frame = pd.concat([valid.reset_index(drop=True), seg.reset_index(drop=True)], axis=1)
    frame["HolidayWeek"] = _holiday_weeks(build_dir, frame)
    frame["MonthTurn"] = month_turn_segment(frame["Date"])
    frame["WindowWeek"] = window_week_segment(frame["Window"], frame["Date"])
    return frame[frame["Sales"] > 0].reset_index(drop=True), cols


def window_week_segment(window: pd.Series, dates: pd.Series) -> pd.Series:
    """The week of its window each day lies in, counted from the window's first day ("week 1": its
    first 7 days). With windows cut right after their train (``WINDOW_GAP=0``) it is the distance
    from the last day a model saw. ``dates`` must hold every day of each window (closed days too)."""
    dates = pd.to_datetime(dates)
    week = (dates - dates.groupby(window).transform("min")).dt.days.to_numpy() // 7 + 1
    names = [f"week {k}" for k in range(1, int(week.max(initial=0)) + 1)]
    return pd.Series(pd.Categorical.from_codes(week - 1, categories=names, ordered=True), index=dates.index)


def month_turn_segment(dates: pd.Series) -> pd.Series:
    """Where each day lies between its month's ends, counted in shopping days (Mon-Sat): the first,
    the last two, or the days between (salaries come at the month's end; features.calendar.month_turn)."""
    turn = month_turn(pd.DataFrame({"Date": pd.to_datetime(dates).reset_index(drop=True)}))
    to_end, from_start = turn["ShopDaysToMonthEnd"].to_numpy(), turn["ShopDaysFromMonthStart"].to_numpy()
    labels = np.select([to_end == 0, to_end == 1, from_start == 0],
                       ["4 last shop day", "3 second-last shop day", "1 first shop day"], "2 between")
    return pd.Series(labels, index=dates.index)


def _holiday_weeks(build_dir: Path, frame: pd.DataFrame) -> pd.Series:
    """"holiday week" where the store's calendar week (Mon-Sun) holds a state holiday.

    Holidays fall on closed days, which RMSPE ignores, but they shift demand to the days around
    them; that is where models without holiday-distance features go wrong.
    """
    if "StateHoliday" not in frame.columns:
        return pd.Series("unknown", index=frame.index)
    feats_path = build_dir / "features" / "train.parquet"
    # The scored frame drops closed days, so look at every row of the window in the features.
    feats = pd.read_parquet(feats_path, columns=["Store", "Date", "StateHoliday"])
    feats["Date"] = pd.to_datetime(feats["Date"]).astype("datetime64[us]")
    feats = feats[feats["Date"] >= frame["Date"].min() - pd.Timedelta(days=7)]
    feats["week"] = feats["Date"].dt.to_period("W-SUN")
    # The raw column holds "0"/"a"/"b"/"c"; the feature table may hold it as a bool or int flag.
    code = feats["StateHoliday"].astype(str).str.lower()
    hol = feats[~code.isin(["0", "false", "", "nan", "none", "<na>"])].groupby(["Store", "week"]).size()
    week = frame["Date"].dt.to_period("W-SUN")
    keys = pd.MultiIndex.from_arrays([frame["Store"], week])
    flag = keys.isin(hol.index)
    return pd.Series(np.where(flag, "holiday week", "no holiday"), index=frame.index)


def segment_table(frame: pd.DataFrame, cols: list[str], segment: str) -> pd.DataFrame:
    """RMSPE of each prediction column within each value of ``segment`` (rows = values)."""
    rows = []
    for value, g in frame.groupby(segment, sort=True, observed=True):
        row: dict[str, Any] = {segment: value, "rows": len(g)}
        for c in cols:
            row[c] = rmspe(g["Sales"], g[c])
        rows.append(row)
    return pd.DataFrame(rows)


def _md_table(df: pd.DataFrame, best_of: list[str] | None = None) -> str:
    """Markdown table; within ``best_of`` columns the lowest value of each row is bold."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns) + "|"
    lines = [head, sep]
    # object dtype keeps each cell's own type (iterrows would turn a row of ints and floats into floats)
    for _, r in df.astype(object).iterrows():
        best = min((r[c] for c in best_of), default=None) if best_of else None
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, (float, np.floating)):
                s = "" if np.isnan(v) else f"{v:.4f}"
                cells.append(f"**{s}**" if best_of and c in best_of and v == best else s)
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_segments(tables: dict[str, pd.DataFrame], cols: list[str], path: Path) -> None:
    plt = pyplot()
    n = len(tables)
    ncols = 2
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(13, 3.6 * nrows), squeeze=False)
    width = 0.8 / max(len(cols), 1)
    for ax, (seg, t) in zip(axes.flat, tables.items()):
        x = np.arange(len(t))
        for j, c in enumerate(cols):
            ax.bar(x + (j - (len(cols) - 1) / 2) * width, t[c], width, label=c)
        ax.set_xticks(x, [str(v) for v in t[seg]], rotation=45 if len(t) > 6 else 0, fontsize=8)
        ax.set_title(f"RMSPE by {seg}")
        ax.set_ylabel("RMSPE")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def day_table(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Per date: rows, the share of them in a promo / a school holiday, and each prediction
    column's RMSPE and median log ratio (its bias: below 0 under-predicts)."""
    rows = []
    for date, g in frame.groupby("Date", sort=True):
        row: dict[str, Any] = {"date": f"{pd.Timestamp(date).date()} {pd.Timestamp(date).day_name()[:3]}",
                               "rows": len(g)}
        for flag in ("Promo", "SchoolHoliday"):
            if flag in g.columns:
                row[f"{flag} share"] = float(pd.to_numeric(g[flag], errors="coerce").fillna(0).astype(bool).mean())
        for c in cols:
            row[c] = rmspe(g["Sales"], g[c])
        for c in cols:
            row[f"{c} bias"] = float(np.median(np.log(np.maximum(g[c].to_numpy(np.float64), 1e-9) / g["Sales"])))
        rows.append(row)
    return pd.DataFrame(rows)


def one_off_table(frame: pd.DataFrame, cols: list[str], usual: str = USUAL) -> pd.DataFrame:
    """Per window: its one-off store-days (``competition.metric.one_off_rows`` against the
    ``usual`` column), their share of each column's squared percentage error, and each column's
    RMSPE without them."""
    rows = []
    for w, g in frame.groupby("Window", sort=True):
        flag = one_off_rows(g["Sales"], g[usual])
        row: dict[str, Any] = {"window": f"w{int(w)}", "rows": len(g), "one-off rows": int(flag.sum())}
        for c in cols:
            sq = ((g["Sales"] - g[c]) / g["Sales"]).to_numpy(np.float64) ** 2
            row[f"{c} share"] = float(sq[flag].sum() / sq.sum()) if sq.sum() > 0 else 0.0
        for c in cols:
            row[f"{c} without"] = rmspe(g["Sales"][~flag], g[c][~flag])
        rows.append(row)
    return pd.DataFrame(rows)


def heaviest_rows(frame: pd.DataFrame, cols: list[str], n: int = N_HEAVIEST) -> pd.DataFrame:
    """The ``n`` store-days with the largest squared percentage error of the last column (the
    ensemble where there is one): actual, and each column's prediction."""
    ref = cols[-1]
    sq = ((frame["Sales"] - frame[ref]) / frame["Sales"]) ** 2
    top = frame.loc[sq.nlargest(n).index]
    out = pd.DataFrame({"window": "w" + top["Window"].astype(int).astype(str),
                        "Store": top["Store"].astype(int).astype(str),
                        "date": [f"{d.date()} {d.day_name()[:3]}" for d in top["Date"]],
                        "Sales": top["Sales"].astype(int)})
    for c in cols:
        out[c] = top[c].round().astype(int)
    out[f"{ref} error"] = ((top[ref] - top["Sales"]) / top["Sales"]).to_numpy()
    return out.reset_index(drop=True)


def plot_days(table: pd.DataFrame, cols: list[str], path: Path) -> None:
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7), sharex=True)
    x = np.arange(len(table))
    for c in cols:
        top.plot(x, table[c], marker=".", label=c)
        bottom.plot(x, table[f"{c} bias"], marker=".", label=c)
    top.set_ylabel("RMSPE")
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylabel("median log(pred / actual)")
    bottom.set_xticks(x[::3], table["date"].iloc[::3], rotation=60, fontsize=7)
    top.legend(fontsize=8)
    top.set_title("the same-season windows, day by day")
    fig.tight_layout()
    _save(fig, path)


def plot_models(scores: dict[str, float], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(scores) + 1.5))
    items = sorted(scores.items(), key=lambda kv: -kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.4f}", va="center", fontsize=8)
    ax.set_xlabel("pseudo-test RMSPE (lower is better)")
    fig.tight_layout()
    _save(fig, path)


def plot_worst(frame: pd.DataFrame, cols: list[str], stores: list[int], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(len(stores), 1, figsize=(11, 2.4 * len(stores)), squeeze=False, sharex=True)
    for ax, s in zip(axes[:, 0], stores):
        g = frame[frame["Store"] == s].sort_values("Date")
        ax.plot(g["Date"], g["Sales"], "k.-", lw=1.5, label="actual")
        for c in cols:
            ax.plot(g["Date"], g[c], lw=1, alpha=0.8, label=c)
        ref = cols[-1]
        ax.set_title(f"store {s}: RMSPE {ref} {rmspe(g['Sales'], g[ref]):.3f}", fontsize=9)
        ax.set_ylabel("Sales")
    axes[0, 0].legend(fontsize=7, ncol=len(cols) + 1)
    fig.tight_layout()
    _save(fig, path)


def data_sheet(build_dir: Path, meta: dict[str, Any]) -> list[str]:
    """Rows, ranges, source and quirks, computed from the feature tables where possible."""
    lines = []
    feats = build_dir / "features"
    src = meta.get("source", "unknown")
    lines.append(f"- source: **{src}**"
                 + (" (generated; numbers say nothing about Kaggle)" if src == "synthetic" else ""))
    ends: dict[str, pd.Timestamp] = {}
    for part in ("train", "test"):
        p = feats / f"{part}.parquet"
        if not p.exists():
            continue
        cols = ["Store", "Date", "Open"] + (["Sales"] if part == "train" else [])
        df = pd.read_parquet(p, columns=cols)
        df["Date"] = pd.to_datetime(df["Date"])
        lines.append(f"- {part}: {len(df):,} rows, {df['Store'].nunique()} stores, "
                     f"{df['Date'].min().date()} .. {df['Date'].max().date()} ({df['Date'].nunique()} dates), "
                     f"{(df['Open'] == 0).mean():.1%} closed store-days")
        ends[part] = df["Date"].max() if part == "train" else df["Date"].min()
        if part == "train":
            per_store = df.groupby("Store")["Date"].nunique()
            gap = per_store[per_store < df["Date"].nunique()]
            if len(gap):
                lines.append(f"  - {len(gap)} stores have fewer dates than the rest "
                             f"(Kaggle: 180 stores lack 2014-07-01 .. 2014-12-31, closed for refurbishment)")
            zero_open = int(((df["Open"] == 1) & (df["Sales"] == 0)).sum())
            lines.append(f"  - {zero_open} open store-days with zero sales (RMSPE ignores them)")
    if len(ends) == 2 and (ends["test"] - ends["train"]).days > 1:
        lines.append(f"- gap: {(ends['test'] - ends['train']).days - 1} days between the end of train and the "
                     "start of test; every pseudo-test window keeps the same gap after its own train")
    # meta.json (features stage): windows, row counts, whether the fast.ai tables were used.
    for key in ("valid_start", "valid_end", "test_start", "test_end", "external"):
        if key in meta:
            lines.append(f"- {key}: {meta[key]}")
    counts = {k: v for k, v in meta.items() if (k.startswith("n_") or k.startswith("rows")) and not isinstance(v, list)}
    if counts:
        lines.append("- row counts from meta.json: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                                                 for k, v in counts.items()))
    if meta.get("data_fingerprint"):
        lines.append(f"- data fingerprint (sha256 of the raw files): {str(meta['data_fingerprint'])[:16]}")
    lines += [
        "- known quirks of the Kaggle files (the synthetic generator reproduces them): StateHoliday mixes "
        "the string \"0\" and the number 0 (read as text); test Open is blank for store 622 on some days "
        "(treated as open, warned once); the test covers only part of the stores (856 of 1115 on Kaggle); "
        "each pseudo-test window has as many dates as the test (48 on Kaggle) and the test's stores.",
    ]
    return lines


def embeddings_section(folder: Path) -> list[str]:
    """The MLP's embedding maps (``make embeddings``, drawn into ``reports/embeddings/``) with the
    map agreement they measured; nothing where they were not drawn."""
    record = folder / "embeddings.json"
    if not record.exists():
        return []
    doc = json.loads(record.read_text())
    lines = ["## What the MLP's embeddings learned", "",
             f"Each embedding table of the final network projected to 2-D ({doc.get('method', 'pca').upper()}).", ""]
    states = doc.get("states")
    if states:
        lines += [f"States against their places on the map ({len(states['states'])} states): Procrustes disparity "
                  f"{states['procrustes_disparity']:.2f} (random relabellings align as well with p = "
                  f"{states['procrustes_p']:.3f}); distances in the embedding against distances on the map: "
                  f"r = {states['mantel_r']:.2f} (p = {states['mantel_p']:.3f}).", ""]
    lines += [f"![{name}](embeddings/{file})" for name, file in doc.get("files", {}).items()]
    return lines + [""]


def build_report(build_dir: Path) -> Path:
    frame, cols = load_frame(build_dir)
    out_dir = build_dir / "reports"
    meta = load_meta(build_dir)
    by_window = frame.groupby("Window")
    scores = {c: float(by_window.apply(lambda g, c=c: rmspe(g["Sales"], g[c]), include_groups=False).mean())
              for c in cols}
    ens = read_scores(build_dir).get("models", {}).get("ensemble", {})
    recorded = model_scores(build_dir)
    plot_models(scores, out_dir / "rmspe_models.png")

    tables = {s: segment_table(frame, cols, s) for s in SEGMENTS if s in frame.columns
              and frame[s].nunique() > 1}
    plot_segments(tables, cols, out_dir / "rmspe_segments.png")

    ref = cols[-1]  # the ensemble when there is one
    per_store = frame.groupby("Store").apply(lambda g: pd.Series({c: rmspe(g["Sales"], g[c]) for c in cols}),
                                             include_groups=False)
    worst = per_store.sort_values(ref, ascending=False)
    plot_worst(frame, cols, [int(s) for s in worst.index[:N_WORST]], out_dir / "worst_stores.png")

    md = [f"# Pseudo-test report ({build_dir})", ""]
    labels = {int(w["index"]): w for w in meta.get("windows", [])}
    wins = frame.groupby("Window")["Date"].agg(["min", "max"])
    md.append(f"{len(wins)} pseudo-test windows ("
              + ", ".join(f"w{int(w)} {labels.get(int(w), {}).get('label', '')} {r['min'].date()}..{r['max'].date()}"
                          for w, r in wins.iterrows())
              + f"), {len(frame):,} store-days with Sales > 0 (the days RMSPE scores). Every number here is "
              "out-of-window: the models were trained before each window's gap, the ensemble's blend decided "
              "and fitted on the windows before each one.")
    md += ["", "## RMSPE per model (mean over windows)", "", "![](rmspe_models.png)", ""]
    rows = [{"model": k, "RMSPE": v, "recorded in scores.json": recorded.get(k, float("nan"))}
            for k, v in sorted(scores.items(), key=lambda kv: kv[1])]
    md.append(_md_table(pd.DataFrame(rows)))
    if ens:
        md += ["", f"Ensemble: procedure *{ens.get('procedure', 'equal')}* (scored causally on the windows: "
                   + ", ".join(f"{k} {v:.4f}" for k, v in ens.get("procedure_rmspe_causal", {}).items())
                   + f"); {ens.get('space')} space, weights "
                   + ", ".join(f"{k} {v:.3f}" for k, v in ens.get("weights", {}).items())
                   + f", factor {ens.get('factor', float('nan')):.4f}; "
                   + ("segment factors per " + ens["segment"]["column"] if ens.get("segment")
                      else "no segment factors (none gained on every window scored causally, at least two of them)")
                   + f". In-sample (fitted on the rows it is scored on, not a score): "
                     f"{ens.get('rmspe_in_sample', float('nan')):.4f}."]
    md += ["", "## Where the models fail: RMSPE by segment", "",
           "Lowest RMSPE per row in bold. Columns are models; a row where the ranking flips is a place "
           "where the models fail differently, which is what a blend exploits.", "",
           "![](rmspe_segments.png)", ""]
    for s, t in tables.items():
        md += [f"### {s}", "", _md_table(t, best_of=cols), ""]
    season = [int(w) for w, info in labels.items() if info.get("kind") == "season"]
    days = frame[frame["Window"].isin(season)]
    if len(days):
        table = day_table(days, cols)
        plot_days(table, cols, out_dir / "season_days.png")
        md += ["## The same-season windows, day by day", "",
               "Where the test's own season is hard: each day's RMSPE, and each model's bias (the median of "
               "log(prediction / actual); below 0 it under-predicts), with the share of store-days in a promo "
               "and in a school holiday.", "", "![](season_days.png)", "", _md_table(table, best_of=cols), ""]
    md += ["## The store-days that weigh most", "",
           f"RMSPE squares each day's error relative to its actual, so a store-day that sold a fraction of its "
           f"usual (a partial-day opening, a local event) weighs like hundreds of ordinary ones. These are the "
           f"{N_HEAVIEST} heaviest for {ref} (error: prediction / actual - 1):", "",
           _md_table(heaviest_rows(frame, cols)), ""]
    if USUAL in frame.columns:
        md += [f"Per window, the one-off store-days (Sales below 1/{ONE_OFF_RATIO:g} of the {USUAL}'s prediction, the "
               "median of the store's weekday and promo), their share of each model's squared error, and each "
               "model's RMSPE without them. A window where they hold a large share is scored by a few days no "
               "model predicts; its differences between models say little (`make backtest AGAINST=...` gives "
               "the rule's verdict with and without them).", "", _md_table(one_off_table(frame, cols)), ""]
    md += ["## Worst stores", "", f"By {ref} RMSPE over the windows; actual vs predicted below.", "",
           "![](worst_stores.png)", ""]
    wt = worst.head(10).reset_index()
    wt["Store"] = wt["Store"].astype(int).astype(str)
    md += [_md_table(wt, best_of=cols), ""]
    md += embeddings_section(out_dir / "embeddings")
    md += ["## Data sheet", ""] + data_sheet(build_dir, meta) + [""]
    path = out_dir / "report.md"
    write_text_atomic(path, "\n".join(md))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling.report", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    args = ap.parse_args(argv)
    if not (args.build_dir / "predictions").is_dir():
        raise DataError("no predictions to report on", file=args.build_dir / "predictions",
                        fix=f"run `make ensemble BUILD_DIR={args.build_dir}` first")
    path = build_report(args.build_dir)
    print(f"wrote {path} and its PNGs")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
