"""Load and validate the Rossmann competition files.

``DATA_DIR`` holds ``rossmann-store-sales.zip`` exactly as ``kaggle competitions download
rossmann-store-sales -p DATA_DIR`` writes it, or its four extracted CSVs (which win when both are
there), and optionally ``external/`` with the fast.ai tables. Raw data is never modified.

Every column is read with an explicit dtype. Problems a user can fix (a missing file or column, a
date that does not parse, a duplicated (Store, Date), a test store missing from ``store.csv``, a
negative Sales value, a corrupt zip) raise :class:`DataError` naming the file, column and line.
"""
from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError

ZIP_NAME = "rossmann-store-sales.zip"
COMPETITION_FILES = ("train.csv", "test.csv", "store.csv", "sample_submission.csv")
EXTERNAL_FILES = ("store_states.csv", "state_names.csv", "weather.csv", "googletrend.csv")
SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"
DOWNLOAD_FIX = ("download the competition data with `make data DATA_DIR=...` (Kaggle credentials needed) "
                "or point DATA_DIR at a folder holding rossmann-store-sales.zip or its four CSVs")

# Integer columns, per file, with the dtype they are held in. StateHoliday and the other text
# columns are read as str on purpose: Kaggle's StateHoliday mixes "0", "a".."c" and a bare 0.
INT_COLUMNS: dict[str, dict[str, str]] = {
    "train.csv": {"Store": "int32", "DayOfWeek": "int8", "Sales": "int32", "Customers": "int32",
                  "Open": "int8", "Promo": "int8", "SchoolHoliday": "int8"},
    "test.csv": {"Id": "int32", "Store": "int32", "DayOfWeek": "int8", "Promo": "int8",
                 "SchoolHoliday": "int8"},
    "store.csv": {"Store": "int32", "Promo2": "int8"},
    "sample_submission.csv": {"Id": "int32"},
}
FLOAT_COLUMNS: dict[str, list[str]] = {
    "test.csv": ["Open"],  # blank for store 622 on some days
    "store.csv": ["CompetitionDistance", "CompetitionOpenSinceMonth", "CompetitionOpenSinceYear",
                  "Promo2SinceWeek", "Promo2SinceYear"],
    "sample_submission.csv": ["Sales"],
}
STR_COLUMNS: dict[str, list[str]] = {
    "train.csv": ["Date", "StateHoliday"],
    "test.csv": ["Date", "StateHoliday"],
    "store.csv": ["StoreType", "Assortment", "PromoInterval"],
    "sample_submission.csv": [],
}
STATE_HOLIDAY_CODES = ("0", "a", "b", "c")
# Kaggle's store.csv values. Anything else is an error rather than a new category: neither model
# could learn an effect for a value no training row has, and a typo ("Sep" for "Sept") would
# silently turn a store's Promo2 months off.
STORE_CODES: dict[str, tuple[str, ...]] = {
    "StoreType": ("a", "b", "c", "d"),
    "Assortment": ("a", "b", "c"),
    "PromoInterval": ("", "Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec"),
}


@dataclass
class ExternalTables:
    """The fast.ai course's extra tables, as read (joins happen in ``features``)."""

    store_states: pd.DataFrame
    state_names: pd.DataFrame
    weather: pd.DataFrame
    googletrend: pd.DataFrame


@dataclass
class CompetitionData:
    train: pd.DataFrame
    test: pd.DataFrame
    store: pd.DataFrame
    sample_submission: pd.DataFrame
    external: ExternalTables | None
    source: str  # "kaggle" or "synthetic"
    data_dir: Path


def _columns_of(name: str) -> list[str]:
    return list(INT_COLUMNS[name]) + FLOAT_COLUMNS.get(name, []) + STR_COLUMNS[name]


def has_competition_data(data_dir: str | Path) -> bool:
    """True when ``data_dir`` holds Kaggle's zip or its four CSVs (real or synthetic)."""
    data_dir = Path(data_dir)
    return (data_dir / ZIP_NAME).exists() or all((data_dir / f).exists() for f in COMPETITION_FILES)


def is_synthetic(data_dir: str | Path) -> bool:
    """True when ``data_dir``'s data was generated (it holds the SYNTHETIC_DATA.txt marker)."""
    return (Path(data_dir) / SYNTHETIC_MARKER).exists()


def input_files(data_dir: str | Path) -> list[Path]:
    """The raw files that :func:`load_competition` reads, for cache keys."""
    data_dir = Path(data_dir)
    if all((data_dir / f).exists() for f in COMPETITION_FILES):
        files = [data_dir / f for f in COMPETITION_FILES]
    else:
        files = [data_dir / ZIP_NAME]
    ext = data_dir / "external"
    if ext.is_dir():
        files += [ext / f for f in EXTERNAL_FILES if (ext / f).exists()]
    return files


def fingerprint(data_dir: str | Path) -> str:
    """sha256 over the names and bytes of every input file."""
    h = hashlib.sha256()
    for path in input_files(data_dir):
        h.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_raw_file(data_dir: Path, name: str) -> tuple[bytes, str]:
    """Return the bytes of one competition CSV and a display path for error messages."""
    plain = data_dir / name
    if all((data_dir / f).exists() for f in COMPETITION_FILES):
        return plain.read_bytes(), str(plain)
    zpath = data_dir / ZIP_NAME
    if not zpath.exists():
        present = sorted(p.name for p in data_dir.glob("*")) if data_dir.is_dir() else []
        raise DataError(f"no competition data: expected {ZIP_NAME} or the four CSVs {', '.join(COMPETITION_FILES)}; "
                        f"found {present or 'nothing'}", file=plain if plain.exists() else data_dir / ZIP_NAME,
                        fix=DOWNLOAD_FIX)
    try:
        with zipfile.ZipFile(zpath) as zf:
            members = {Path(m).name: m for m in zf.namelist()}
            if name not in members:
                raise DataError(f"the zip has no {name} (it holds {sorted(members)})", file=zpath,
                                fix="download the zip again with `kaggle competitions download rossmann-store-sales`")
            return zf.read(members[name]), f"{zpath}:{name}"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
        raise DataError(f"the zip is corrupt or truncated ({err})", file=zpath,
                        fix=f"delete {zpath} and download it again (`make data`)") from None


def _first_bad_row(raw: pd.Series, ok: np.ndarray) -> tuple[int, str]:
    """1-based CSV line (header is line 1) and value of the first row where ``ok`` is False."""
    idx = int(np.flatnonzero(~ok)[0])
    return idx + 2, str(raw.iloc[idx])


def _read_csv(data: bytes, name: str, where: str) -> pd.DataFrame:
    """Read one competition CSV with explicit dtypes, failing with the exact line on bad values."""
    expected = _columns_of(name)
    if not data.strip():
        raise DataError("the file is empty (not even a header line)", file=where,
                        fix=f"restore {name} from Kaggle's rossmann-store-sales.zip (or `make data` into an "
                            "empty DATA_DIR)")
    try:
        header = pd.read_csv(io.BytesIO(data), nrows=0).columns.tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot parse the CSV ({err})", file=where,
                        fix="restore the original file from Kaggle") from None
    missing = [c for c in expected if c not in header]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header}", file=where, column=missing[0],
                        fix="restore the original file from Kaggle; the columns must keep Kaggle's names")
    dtypes: dict[str, str] = {c: "str" for c in STR_COLUMNS[name]}
    dtypes.update({c: "float64" for c in FLOAT_COLUMNS.get(name, [])})
    # Integers are first read as float64 so a blank or a stray text value can be located precisely.
    dtypes.update({c: "float64" for c in INT_COLUMNS[name]})
    try:
        df = pd.read_csv(io.BytesIO(data), usecols=expected, dtype=dtypes, keep_default_na=True)
    except (ValueError, pd.errors.ParserError) as err:
        df = pd.read_csv(io.BytesIO(data), usecols=expected, dtype="str", keep_default_na=False)
        for col in list(INT_COLUMNS[name]) + FLOAT_COLUMNS.get(name, []):
            num = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
            bad = num.isna().to_numpy() & (df[col] != "").to_numpy()
            if bad.any():
                row, value = _first_bad_row(df[col], ~bad)
                raise DataError(f"{value!r} is not a number", file=where, column=col, row=row,
                                fix="fix or delete that line; the column holds numbers only") from None
        raise DataError(f"cannot parse the CSV ({err})", file=where,
                        fix="restore the original file from Kaggle") from None
    df = df[[c for c in header if c in expected]]  # keep Kaggle's column order
    for col, dtype in INT_COLUMNS[name].items():
        values = df[col].to_numpy()
        ok = np.isfinite(values) & (values == np.round(values))
        if name == "test.csv" and col == "Open":
            continue
        if not ok.all():
            row, value = _first_bad_row(df[col], ok)
            raise DataError(f"expected a whole number, found {value!r}", file=where, column=col, row=row,
                            fix="fill in that value (0 or 1 for flags) or delete the line")
        df[col] = values.astype(dtype)
    if "Date" in df.columns:
        df["Date"] = _parse_dates(df["Date"], where)
    return df


def _parse_dates(raw: pd.Series, where: str | Path) -> pd.Series:
    """YYYY-MM-DD strings to datetime64[us]; the first unparseable value is reported by line."""
    dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    ok = dates.notna().to_numpy()
    if not ok.all():
        row, value = _first_bad_row(raw, ok)
        raise DataError(f"cannot parse date {value!r} (expected YYYY-MM-DD)", file=where, column="Date",
                        row=row, fix="write the date as YYYY-MM-DD, e.g. 2015-07-31")
    return dates.astype("datetime64[us]")


def _require_rows(df: pd.DataFrame, where: str, holds: str) -> None:
    if df.empty:
        raise DataError(f"the file has a header but no rows; it must hold {holds}", file=where,
                        fix="restore the file from Kaggle's rossmann-store-sales.zip (or `make data` into an empty "
                            "DATA_DIR)")


def _check_state_holiday(df: pd.DataFrame, where: str) -> None:
    ok = df["StateHoliday"].isin(STATE_HOLIDAY_CODES).to_numpy()
    if not ok.all():
        row, value = _first_bad_row(df["StateHoliday"], ok)
        raise DataError(f"StateHoliday must be one of {list(STATE_HOLIDAY_CODES)}, found {value!r}", file=where,
                        column="StateHoliday", row=row, fix="use 0 (none), a (public), b (Easter) or c (Christmas)")


def _check_unique(df: pd.DataFrame, where: str) -> None:
    dup = df.duplicated(["Store", "Date"], keep="first").to_numpy()
    if dup.any():
        idx = int(np.flatnonzero(dup)[0])
        store, date = df["Store"].iloc[idx], df["Date"].iloc[idx].date()
        first = int(np.flatnonzero(((df["Store"] == store) & (df["Date"] == df["Date"].iloc[idx])).to_numpy())[0])
        raise DataError(f"(Store={store}, Date={date}) appears twice, first on line {first + 2}",
                        file=where, column="Store,Date", row=idx + 2,
                        fix="keep one line per store and day; delete the duplicate")


def _check_range(df: pd.DataFrame, col: str, low: float, high: float, where: str, fix: str) -> None:
    values = df[col].to_numpy()
    ok = (values >= low) & (values <= high)
    if not ok.all():
        row, value = _first_bad_row(df[col], ok)
        raise DataError(f"expected a value in [{low}, {high}], found {value}", file=where, column=col, row=row, fix=fix)


def _load_train(data_dir: Path) -> tuple[pd.DataFrame, str]:
    data, where = read_raw_file(data_dir, "train.csv")
    df = _read_csv(data, "train.csv", where)
    _require_rows(df, where, "the days to learn from")
    _check_state_holiday(df, where)
    _check_range(df, "Sales", 0, np.inf, where, "Sales cannot be negative; correct the value or delete the line")
    _check_range(df, "Customers", 0, np.inf, where,
                 "Customers cannot be negative; correct the value or delete the line")
    _check_range(df, "Open", 0, 1, where, "Open is 0 (closed) or 1 (open)")
    _check_range(df, "DayOfWeek", 1, 7, where, "DayOfWeek runs from 1 (Monday) to 7 (Sunday)")
    _check_unique(df, where)
    return df, where


def _load_test(data_dir: Path) -> tuple[pd.DataFrame, str]:
    data, where = read_raw_file(data_dir, "test.csv")
    df = _read_csv(data, "test.csv", where)
    _require_rows(df, where, "the days to predict")
    _check_state_holiday(df, where)
    _check_unique(df, where)
    blank = df["Open"].isna()
    if blank.any():
        stores = sorted(df.loc[blank, "Store"].unique().tolist())
        # Kaggle's test leaves Open blank for store 622 on days it was in fact open; treating them as
        # open is the known-good choice (a closed day scores nothing, a wrong zero costs a lot).
        warnings.warn(f"{where}: Open is blank on {int(blank.sum())} row(s) (store(s) {stores}); treating them as open",
                      UserWarning, stacklevel=3)
    df["Open"] = df["Open"].fillna(1)
    _check_range(df, "Open", 0, 1, where, "Open is 0 (closed), 1 (open) or blank")
    df["Open"] = df["Open"].astype("int8")
    return df, where


def _load_store(data_dir: Path) -> tuple[pd.DataFrame, str]:
    data, where = read_raw_file(data_dir, "store.csv")
    df = _read_csv(data, "store.csv", where)
    _require_rows(df, where, "one line per store")
    dup = df["Store"].duplicated().to_numpy()
    if dup.any():
        row, value = _first_bad_row(df["Store"], ~dup)
        raise DataError(f"store {value} appears twice", file=where, column="Store", row=row,
                        fix="keep one line per store")
    df["PromoInterval"] = df["PromoInterval"].fillna("")
    for col in ("StoreType", "Assortment"):
        missing = df[col].isna().to_numpy()
        if missing.any():
            row, _ = _first_bad_row(df[col], ~missing)
            raise DataError(f"{col} is blank", file=where, column=col, row=row, fix="fill in the store's type")
    for col, codes in STORE_CODES.items():
        ok = df[col].isin(codes).to_numpy()
        if not ok.all():
            row, value = _first_bad_row(df[col], ok)
            raise DataError(f"{col} must be one of {list(codes)}, found {value!r}", file=where, column=col, row=row,
                            fix=f"use one of Kaggle's {col} values (store.csv as downloaded has only these)")
    return df, where


def _check_known_stores(frame: pd.DataFrame, store: pd.DataFrame, where: str, store_where: str) -> None:
    known = frame["Store"].isin(store["Store"]).to_numpy()
    if not known.all():
        row, value = _first_bad_row(frame["Store"], known)
        raise DataError(f"store {value} is not in {store_where}", file=where, column="Store", row=row,
                        fix=f"add store {value} to store.csv or remove its rows")


def _check_test_period(train: pd.DataFrame, test: pd.DataFrame, train_where: str, test_where: str) -> None:
    """The test period's contract: rows, unique Ids, and dates after the train period."""
    if test.empty:
        raise DataError("the file has a header but no rows; it must hold the days to predict", file=test_where,
                        fix="use the test.csv that came with the competition data (it lists the days to predict)")
    dup = test["Id"].duplicated().to_numpy()
    if dup.any():
        row, value = _first_bad_row(test["Id"], ~dup)
        raise DataError(f"Id {value} appears twice", file=test_where, column="Id", row=row,
                        fix="give every test row its own Id")
    train_end = train["Date"].max()
    early = (test["Date"] <= train_end).to_numpy()
    if early.any():
        row, value = _first_bad_row(test["Date"].dt.strftime("%Y-%m-%d"), ~early)
        raise DataError(f"test date {value} is not after the last train date {train_end.date()}: the test "
                        "period must start after the train period ends", file=test_where, column="Date", row=row,
                        fix="remove the overlapping days from test.csv, or cut train.csv before the test starts")


def _warn_unseen_test_stores(train: pd.DataFrame, test: pd.DataFrame, test_where: str) -> None:
    unseen = np.setdiff1d(np.unique(test["Store"].to_numpy()), np.unique(train["Store"].to_numpy()))
    if len(unseen):
        # Not an error: the models fall back to what they know of stores alike (type, assortment,
        # state, competition), and the baseline to the global median.
        warnings.warn(f"{test_where}: store(s) {unseen[:20].tolist()} have no train rows; their predictions "
                      "come from store-level columns only and will be rough", UserWarning, stacklevel=3)


def _load_external(data_dir: Path) -> ExternalTables | None:
    ext = data_dir / "external"
    if not ext.is_dir():
        return None
    missing = [f for f in EXTERNAL_FILES if not (ext / f).exists()]
    if missing:
        raise DataError(f"external/ is incomplete: missing {missing}", file=ext / missing[0],
                        fix="copy all four fast.ai tables into external/, or remove external/ to run without them")
    tables: dict[str, pd.DataFrame] = {}
    required = {"store_states.csv": ["Store", "State"], "state_names.csv": ["StateName", "State"],
                "weather.csv": ["file", "Date"], "googletrend.csv": ["file", "week", "trend"]}
    for name, cols in required.items():
        path = ext / name
        try:
            df = pd.read_csv(path, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"cannot parse the CSV ({err})", file=path, fix="restore the original table") from None
        df.columns = [c.strip() for c in df.columns]
        gone = [c for c in cols if c not in df.columns]
        if gone:
            raise DataError(f"missing column(s) {gone}; the header is {list(df.columns)}", file=path, column=gone[0],
                            fix="restore the original fast.ai table")
        if "Date" in df.columns:
            df["Date"] = _parse_dates(df["Date"], path)
        tables[name.removesuffix(".csv")] = df
    tables["store_states"]["State"] = tables["store_states"]["State"].astype("str").str.strip()
    return ExternalTables(**tables)


def load_sample_submission(data_dir: str | Path) -> pd.DataFrame:
    """``sample_submission.csv`` alone (Kaggle's Id order), read and checked like in
    :func:`load_competition`, without reading the other files."""
    data, where = read_raw_file(Path(data_dir), "sample_submission.csv")
    return _read_csv(data, "sample_submission.csv", where)


def load_competition(data_dir: str | Path) -> CompetitionData:
    """Read and validate everything under ``data_dir``; raises :class:`DataError` on bad input."""
    data_dir = Path(data_dir)
    store, store_where = _load_store(data_dir)
    train, train_where = _load_train(data_dir)
    test, test_where = _load_test(data_dir)
    data, sample_where = read_raw_file(data_dir, "sample_submission.csv")
    sample = _read_csv(data, "sample_submission.csv", sample_where)
    _check_known_stores(train, store, train_where, store_where)
    _check_known_stores(test, store, test_where, store_where)
    _check_test_period(train, test, train_where, test_where)
    _warn_unseen_test_stores(train, test, test_where)
    if set(sample["Id"]) != set(test["Id"]):
        raise DataError("sample_submission.csv and test.csv hold different Ids", file=sample_where, column="Id",
                        fix="use the sample_submission.csv that came with this test.csv")
    return CompetitionData(train=train, test=test, store=store, sample_submission=sample,
                           external=_load_external(data_dir),
                           source="synthetic" if is_synthetic(data_dir) else "kaggle", data_dir=data_dir)
