"""Write metric tables as CSV files that other tools read without surprises.

CSV conventions (interface.md): dates YYYY-MM-DD, booleans true/false, NULL as an empty cell,
integers without a decimal point, numbers unrounded.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from dashboard.engine.context import MetricContext, Unavailable
from dashboard.engine.metrics import METRIC_TABLES, compute_table
from dashboard.engine.params import Params
# EXPORT_INFO, written beside the CSV files: the parameters they were computed with, so that the
# dashboard can open the folder (exported.py) and say which filters made its numbers; the loader
# knows it too, to tell an export folder from a source.
from dashboard.engine.loading import EXPORT_INFO

if TYPE_CHECKING:  # (the Spark engine writes its export without DuckDB)
    from dashboard.engine.source import Source


@dataclass
class ExportResult:
    written: dict[str, int] = field(default_factory=dict)  # table -> rows
    unavailable: dict[str, str] = field(default_factory=dict)  # table -> reason
    notes: list[str] = field(default_factory=list)  # e.g. experiments of the input that have no rows


def csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of a metric table."""
    buffer = io.StringIO()
    csv_ready(frame).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# Line breaks inside a text cell are written as LF: the CSV writer quotes a cell with an LF (the
# line terminator) but not one with a bare CR, which readers that split lines on CR (Python's csv
# module, some spreadsheets) would take as the end of a row — and the next "row" could start with
# a live formula.
_LINE_BREAK = re.compile(r"\r\n?")


def neutralise(text: str) -> str:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay.

    Every line of a cell is treated so (a line after a line break is a row to some readers), and
    a CR or CRLF inside a cell becomes LF, so that the cell is quoted and one row stays one row.
    """
    text = _neutralise_line(text)  # the cell's start, e.g. a cell that starts with a CR
    if "\r" in text or "\n" in text:
        first, *rest = _LINE_BREAK.sub("\n", text).split("\n")
        return "\n".join([first, *(_neutralise_line(line) for line in rest)])
    return text


def _neutralise_line(text: str) -> str:
    if text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            out[column] = series.map({True: "true", False: "false"}).astype("object")
        elif pd.api.types.is_datetime64_any_dtype(series):
            out[column] = series.dt.strftime("%Y-%m-%d")
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            out[column] = series.astype(object).map(_cell)
    return out


def _cell(value):
    # Decimal and date objects from DuckDB print as plain text; None stays empty.
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10]
    if isinstance(value, str):
        return neutralise(value)
    return value


def export_tables(
    source: Source,
    params: Params,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    tables: tuple[str, ...] = METRIC_TABLES,
    zip_name: str | None = None,
) -> ExportResult:
    """One CSV per available table into out_dir (and, with zip_name, the same as one zip)."""
    computed, unavailable = compute_all(source, params, progress, tables)
    result = write_export(out_dir, computed, unavailable, source.name, params, "duckdb", zip_name)
    if "experiments" in computed:
        result.notes += [f"experiments.csv has no rows for {message}"
                         for message in _dropped_experiments(source, params, computed["experiments"])]
    return result


def _dropped_experiments(source: Source, params: Params, experiments: pd.DataFrame) -> list[str]:
    from dashboard.engine.experiment_checks import dropped_experiments

    ctx = MetricContext(source, params)
    try:
        return dropped_experiments(ctx, produced=experiments["experiment_id"])
    finally:
        ctx.close()


def write_export(out_dir: str | Path, computed: dict[str, pd.DataFrame], unavailable: dict[str, str],
                 source_name: str, params: Params, engine: str, zip_name: str | None = None,
                 about: dict[str, str] | None = None) -> ExportResult:
    """The files of an export, whichever engine computed the tables: one CSV per table,
    EXPORT_INFO, and with zip_name the bundle (its README says `about`, default the parameters)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(unavailable=unavailable)
    for name, frame in computed.items():
        (out / f"{name}.csv").write_text(csv_text(frame), encoding="utf-8")
        result.written[name] = len(frame)
    (out / EXPORT_INFO).write_text(export_info(source_name, params, engine, unavailable), encoding="utf-8")
    if zip_name:
        (out / zip_name).write_bytes(bundle(computed, about or describe_params(source_name, params), unavailable))
    return result


def export_info(source_name: str, params: Params, engine: str, unavailable: dict[str, str]) -> str:
    """The JSON of EXPORT_INFO: parameters as the CLI takes them, engine, source, time, tables left out."""
    return json.dumps({
        "engine": engine, "source": source_name,
        "made_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "not_written": unavailable, "params": params.as_options(),
    }, indent=2) + "\n"


def bundle(tables: dict[str, pd.DataFrame], about: dict[str, str], unavailable: dict[str, str] | None = None) -> bytes:
    """A zip of one CSV per table plus README.txt saying what, from where, with which filters, when."""
    lines = ["Metric tables exported by the recommendations dashboard.", ""]
    lines += [f"{key}: {value}" for key, value in about.items()]
    lines += ["", "Files:"] + [f"  {name}.csv  ({len(frame):,} rows)" for name, frame in tables.items()]
    if unavailable:
        lines += ["", "Not included (their input tables are absent):"]
        lines += [f"  {name}: {reason}" for name, reason in unavailable.items()]
    lines += ["", "CSV: dates YYYY-MM-DD, booleans true/false, empty cell = NULL, numbers unrounded.",
              "Text cells that a spreadsheet would run as a formula start with an apostrophe."]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", "\n".join(lines) + "\n")
        for name, frame in tables.items():
            archive.writestr(f"{name}.csv", csv_text(frame))
    return buffer.getvalue()


def describe_params(source_name: str, params: Params) -> dict[str, str]:
    """What README.txt and report headers say about where numbers come from."""
    return {
        "source": source_name,
        "time zone": params.tz,
        "dates": f"{params.start or 'first'} to {params.end or 'last'} (whole weeks)",
        "blocks": ", ".join(params.blocks) if params.blocks else "all",
        "platform": params.platform or "all",
        "attribution window": f"{params.window_days} days",
        "seller threshold N": str(params.n_sales),
        "offline cut-off k": str(params.k),
        "experiments": (f"CUPED pre-period {params.pre_days} days, always-valid interval tuned for "
                        f"{params.seq_tuning:,} users, GMV per user "
                        + (f"capped at the {params.cap_quantile:g} quantile" if params.cap_quantile else "not capped")),
        "made at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def compute_all(source: Source, params: Params, progress: Callable[[str], None] | None = None,
                tables: tuple[str, ...] = METRIC_TABLES, new_context=MetricContext
                ) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every metric table that the source can feed, and the reasons for the others.
    `new_context`: the engine's run (MetricContext, or SparkMetricContext for a Spark source)."""
    computed, unavailable = {}, {}
    ctx = new_context(source, params)
    try:
        for number, name in enumerate(tables, start=1):
            if progress:
                progress(f"[{number}/{len(tables)}] {name}")
            try:
                computed[name] = compute_table(name, ctx)
            except Unavailable as reason:
                unavailable[name] = str(reason)
    finally:
        ctx.close()
    return computed, unavailable
