"""Metric tables that were exported (CSV or Parquet), read back as the metric functions return them.

On a billion-row marketplace the pages should not scan the events: a scheduled job (the Spark or
the DuckDB `export`) writes the ten metric tables, and the dashboard reads those. This module is
engine-neutral (no pyspark): `is_exported_folder(path)` tells such a folder from a data source,
`load_exported_source(path)` opens one for the pages (`ExportedSource`, with the parameters of
the export from its `export.json` when there is one), and `load_exported(path)` gives
`{table: DataFrame}` with the types restored that CSV loses:

- dates (`week_start`, `cohort_week`, any column of `YYYY-MM-DD` values) -> datetime64[us],
  as DuckDB's `.df()` gives DATE columns;
- `true`/`false` -> bool (nullable `boolean` when a cell is empty);
- whole numbers written without a decimal point -> int64 (nullable `Int64` when a cell is empty);
- other numbers -> float64; empty cells -> NULL;
- text (names and ids: block, metric, experiment_id, … even when they look like numbers) -> str,
  with the apostrophe that `export.neutralise` put before a spreadsheet formula
  trigger (`=`, `+`, `-`, `@`, tab, carriage return) taken off again.

A column whose every cell is empty has no type left in CSV and comes back as nullable Float64
NULLs, as the metric functions return a column they cannot compute (e.g. without `orders`).
Parquet keeps its own types (DATE becomes datetime64[us] as above).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd

from dashboard.engine.export import EXPORT_INFO, FORMULA_TRIGGERS
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.params import ParamError, Params, week_start

SUFFIXES = (".csv", ".parquet")
# A data source's required table: a folder that has it is a source, not an export.
SOURCE_MARKERS = ("events.parquet", "events.csv", "events.csv.gz")
DATE_COLUMNS = frozenset({"week_start", "cohort_week"})
# Names and ids are text even when every value looks like a number ("007" keeps its zeros).
TEXT_COLUMNS = frozenset({
    "block", "feature", "measure", "basis", "category", "metric", "experiment_id", "variant",
    "model_version", "offline_metric", "online_metric", "estimator",
})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^[+-]?\d+$")


class ExportedError(ValueError):
    """An exported folder cannot be read as metric tables; the message says which file and why."""


def table_files(path: str | Path) -> dict[str, Path]:
    """{table: file} of the metric-table files in a folder (a table given twice is an error)."""
    folder = Path(path)
    found: dict[str, Path] = {}
    for table in METRIC_TABLES:
        files = [folder / f"{table}{suffix}" for suffix in SUFFIXES if (folder / f"{table}{suffix}").is_file()]
        if len(files) > 1:
            raise ExportedError(f"{folder}: table '{table}' is given by several files "
                                f"({', '.join(f.name for f in files)}); keep one")
        if files:
            found[table] = files[0]
    return found


def is_exported_folder(path: str | Path) -> bool:
    """A folder of exported metric tables: at least one `<metric table>.csv|.parquet` and no events file."""
    folder = Path(path)
    if not folder.is_dir() or any((folder / marker).exists() for marker in SOURCE_MARKERS):
        return False
    return any((folder / f"{table}{suffix}").is_file() for table in METRIC_TABLES for suffix in SUFFIXES)


def load_exported(path: str | Path) -> dict[str, pd.DataFrame]:
    """Every metric table of an exported folder, in METRIC_TABLES order; absent tables are left out
    (the export did not write them because their inputs were absent)."""
    tables = {}
    for table, file in table_files(path).items():
        try:
            if file.suffix == ".parquet":
                tables[table] = _from_parquet(file)
            else:
                tables[table] = _from_csv(file)
        except (OSError, ValueError) as exc:
            raise ExportedError(f"{file.name}: cannot be read as an exported metric table ({exc})") from None
    return tables


def _from_csv(file: Path) -> pd.DataFrame:
    raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    raw.columns = [_unneutralise(str(c)) for c in raw.columns]
    return pd.DataFrame({column: _typed(column, raw[column]) for column in raw.columns}, index=raw.index)


def _typed(column: str, text: pd.Series) -> pd.Series:
    given = text.dropna()
    missing = len(given) < len(text)
    if column in TEXT_COLUMNS:
        return text.map(_unneutralise, na_action="ignore")
    if given.empty:
        if column in DATE_COLUMNS:
            return pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
        # unknown, as the metric functions mark a column they cannot compute
        return pd.Series(pd.NA, index=text.index, dtype="Float64")
    if column in DATE_COLUMNS or given.map(lambda v: bool(_DATE.match(v))).all():
        return pd.to_datetime(text, format="%Y-%m-%d").astype("datetime64[us]")
    if given.isin(["true", "false"]).all():
        values = text.map({"true": True, "false": False})
        return values.astype("boolean") if missing else values.astype(bool)
    if given.map(lambda v: bool(_INTEGER.match(v))).all():
        values = pd.to_numeric(text)
        return values.astype("Int64") if missing else values.astype("int64")
    numbers = pd.to_numeric(given, errors="coerce")
    if numbers.notna().all():
        return pd.to_numeric(text).astype("float64")
    return text.map(_unneutralise, na_action="ignore")


def _unneutralise(value: str) -> str:
    """Undo export.neutralise: "'=x" was written for the text "=x" (on every line of a cell)."""
    if "\n" in value:
        # A cell that started with a CR was written "'" + LF + …: its apostrophe goes too.
        first, *rest = value.split("\n")
        return "\n".join(["" if first == "'" else _unneutralise(first), *(_unneutralise(line) for line in rest)])
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _from_parquet(file: Path) -> pd.DataFrame:
    frame = pd.read_parquet(file)
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object and series.dropna().map(lambda v: type(v).__name__ == "date").all() \
                and series.notna().any():
            frame[column] = pd.to_datetime(series).astype("datetime64[us]")
        elif pd.api.types.is_datetime64_any_dtype(series) and getattr(series.dt, "tz", None) is None:
            frame[column] = series.astype("datetime64[us]")
    return frame


# Tables whose rows are whole weeks: the date filter of the pages (whole weeks, params.week_start)
# narrows their exported rows exactly as it narrows the computation. The others (experiments,
# offline_online: experiments overlapping the dates; offline_metrics: no dates) and every other
# filter (time zone, blocks, platform, window, N, k) need another export.
WEEKLY_COLUMN = {
    "buyer_weekly": "week_start", "time_to_purchase_weekly": "week_start", "convenience_weekly": "week_start",
    "price_weekly": "week_start", "seller_weekly": "week_start", "business_weekly": "week_start",
    "retention": "cohort_week",
}


def select_weeks(table: str, frame: pd.DataFrame, start_week=None, end_week=None) -> pd.DataFrame:
    """The rows of an exported weekly table whose week lies in [start_week, end_week] (either
    may be None: open). Raises ValueError for a table that has no weeks to narrow."""
    if table not in WEEKLY_COLUMN:
        raise ValueError(f"{table} is not narrowed by weeks: its exported rows are those of the export's parameters")
    weeks = frame[WEEKLY_COLUMN[table]]
    keep = pd.Series(True, index=frame.index)
    if start_week is not None:
        keep &= weeks >= pd.Timestamp(start_week)
    if end_week is not None:
        keep &= weeks <= pd.Timestamp(end_week)
    return frame[keep].reset_index(drop=True)


# --- the pages on an exported folder -----------------------------------------------------------
@dataclasses.dataclass(eq=False)
class ExportedSource:
    """A folder of exported metric tables, opened for the pages instead of a data source.

    `params` are the parameters the tables were computed with (from `export.json`); None when the
    folder does not say (tables written by another job): the pages then show them as they are.
    """

    path: Path
    tables: dict[str, pd.DataFrame]
    loaded_at: dt.datetime
    params: Params | None
    about: dict[str, str]  # engine, source, made at: what export.json says besides the parameters

    @property
    def name(self) -> str:
        return str(self.path)

    def weeks(self) -> tuple[dt.date | None, dt.date | None]:
        """First and last week of the weekly tables (None, None when there is none)."""
        starts = [frame[column] for table, column in WEEKLY_COLUMN.items()
                  if (frame := self.tables.get(table)) is not None and column in frame and not frame.empty]
        if not starts:
            return None, None
        weeks = pd.concat(starts).dropna()
        if weeks.empty:
            return None, None
        return weeks.min().date(), weeks.max().date()


NEEDS_EVENTS = ("This needs the raw events; the source is a folder of exported metric tables. "
                "Open the data source itself to see it.")


def load_exported_source(path: str | Path) -> ExportedSource:
    """Open an exported folder: every metric table in it and the parameters of its export."""
    folder = Path(path)
    params, about = read_export_info(folder)
    return ExportedSource(path=folder, tables=load_exported(folder), loaded_at=dt.datetime.now(dt.timezone.utc),
                          params=params, about=about)


def read_export_info(folder: Path) -> tuple[Params | None, dict[str, str]]:
    """The parameters and facts `export` wrote into `export.json`; (None, {}) without the file."""
    file = folder / EXPORT_INFO
    if not file.is_file():
        return None, {}
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
        params = Params.from_options(info["params"])
    except (OSError, ValueError, KeyError, TypeError, ParamError) as exc:
        raise ExportedError(f"{file.name}: cannot be read as the parameters of an export ({exc})") from None
    about = {str(k): str(v) for k, v in info.items() if k != "params"}
    return params, about


def exported_table(source: ExportedSource, name: str, start: dt.date | None = None,
                   end: dt.date | None = None) -> tuple[pd.DataFrame | None, str | None]:
    """(table, None) narrowed to the weeks of [start, end], or (None, why it is not there)."""
    frame = source.tables.get(name)
    if frame is None:
        return None, (f"The exported folder has no {name} file (the export leaves out a table whose inputs "
                      "are absent).")
    if name in WEEKLY_COLUMN and (start or end):
        frame = select_weeks(name, frame, week_start(start) if start else None, week_start(end) if end else None)
    return frame, None
