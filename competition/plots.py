"""The data's pictures: one store's days (closures, promos, holidays, the data gap) and the
pseudo-test windows drawn on a calendar. PNG files, like every plot of the package."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from competition.data import CompetitionData
from competition.pseudo_test import Window
from core.io import pyplot, save_png

# Calendar colours: what a date is to the last window's fit, to each window, and to the test.
TRAIN_COLOUR, GAP_COLOUR, TEST_COLOUR = "#c7d7e8", "#e0e0e0", "#d62728"
WINDOW_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")


def plot_store_days(data: CompetitionData, store: int, path: str | Path, days: int = 400) -> Path:
    """One store's last ``days`` train days: Sales (0 on closed days), promo days shaded, state
    holidays marked, and the missing dates (Kaggle's refurbishment gap) left blank."""
    train = data.train
    rows = train[train["Store"] == store].sort_values("Date")
    if rows.empty:
        raise ValueError(f"store {store} has no train rows; pick one of {sorted(train['Store'].unique())[:5]}, ...")
    rows = rows[rows["Date"] > rows["Date"].max() - pd.Timedelta(days=days)]
    # Reindexed on every calendar day so that missing dates break the line instead of bridging it.
    full = rows.set_index("Date").reindex(pd.date_range(rows["Date"].min(), rows["Date"].max(), freq="D"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 3.6))
    ax.plot(full.index, full["Sales"], lw=0.8, color="black", label="Sales")
    for day in full.index[full["Promo"].to_numpy() == 1]:
        ax.axvspan(day - pd.Timedelta(hours=12), day + pd.Timedelta(hours=12), color="tab:green", alpha=0.12, lw=0)
    closed = full[full["Open"] == 0]
    ax.scatter(closed.index, np.zeros(len(closed)), s=6, color="tab:blue", label="closed (Sales 0)")
    holiday = full[full["StateHoliday"].isin(["a", "b", "c"])]
    ax.scatter(holiday.index, np.zeros(len(holiday)), s=30, marker="^", color="tab:red", label="state holiday")
    missing = full["Sales"].isna().sum()
    ax.set(title=f"store {store}: the last {len(full)} days of train (green: promo days"
                 + (f"; {missing} dates missing" if missing else "") + ")", ylabel="Sales")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


def date_roles(train_end: pd.Timestamp, test_dates: pd.Series, wins: Sequence[Window]) -> pd.Series:
    """What each calendar date is, from eight weeks before the earliest window to the test's end:
    "train", "gap", ``w<k>`` (pseudo-test window k) or "test". Windows are consecutive, so with a
    gap window k's gap falls on the last days of window k+1, which show as that window."""
    test_start, test_end = pd.Timestamp(test_dates.min()), pd.Timestamp(test_dates.max())
    first = min(w.start for w in wins) - pd.Timedelta(days=56) if wins else train_end - pd.Timedelta(days=56)
    dates = pd.date_range(first, test_end, freq="D")
    roles = pd.Series("train", index=dates)
    roles[dates > train_end] = "gap"
    roles[dates >= test_start] = "test"
    for w in wins:
        roles[(dates >= w.start) & (dates <= w.end)] = w.name
        roles[(dates > w.train_end) & (dates < w.start)] = "gap"
    return roles


def plot_windows(train_dates: pd.Series, test_dates: pd.Series, wins: Sequence[Window], path: str | Path) -> Path:
    """The pseudo-test windows and the test on a calendar (one column per week, Monday on top)."""
    train_end = pd.Timestamp(pd.Series(train_dates).max())
    roles = date_roles(train_end, pd.Series(test_dates), wins)
    names = ["train", "gap"] + [w.name for w in sorted(wins, key=lambda w: -w.index)] + ["test"]
    colours = [TRAIN_COLOUR, GAP_COLOUR] + [WINDOW_COLOURS[(w.index - 1) % len(WINDOW_COLOURS)]
                                            for w in sorted(wins, key=lambda w: -w.index)] + [TEST_COLOUR]
    code = {name: i for i, name in enumerate(names)}
    monday0 = roles.index[0] - pd.Timedelta(days=roles.index[0].day_of_week)
    week = np.asarray((roles.index - monday0).days // 7)
    grid = np.full((7, week.max() + 1), np.nan)
    grid[roles.index.day_of_week, week] = [code[r] for r in roles]

    image = np.ones((*grid.shape, 3))  # white where no date falls (before the first, after the last)
    for i, colour in enumerate(colours):
        image[grid == i] = [int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(8.0, 0.22 * grid.shape[1] + 2), 3.4))
    ax.imshow(image, aspect="equal")
    ax.set_yticks(range(7), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], fontsize=8)
    firsts = [i for i, d in enumerate(roles.index) if d.day == 1]
    ax.set_xticks([week[i] for i in firsts], [roles.index[i].strftime("%b %Y") for i in firsts], fontsize=8)
    ax.set_xticks(np.arange(-0.5, grid.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, 7), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    # Each window's last day of train, framed: with a gap, it lies inside the next window or its gap.
    for w in wins:
        if w.train_end >= roles.index[0]:
            i = roles.index.get_loc(w.train_end)
            ax.add_patch(plt.Rectangle((week[i] - 0.5, w.train_end.day_of_week - 0.5), 1, 1, fill=False,
                                       edgecolor="black", lw=1.5, zorder=3))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
    train_ends = {w.name: w.train_end for w in wins}
    labels = [n if n in ("train", "gap", "test") else
              f"{n}: {(roles == n).sum()} days, trains to {train_ends[n].date()} (framed)" for n in names]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("pseudo-test windows: each is the test's length, its train ends where it starts (minus the "
                 "test's gap)", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)
