"""Write metric tables as CSV files that other tools read without surprises.

CSV conventions (interface.md): dates YYYY-MM-DD, booleans true/false, NULL as an empty cell,
integers without a decimal point, numbers unrounded.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from dashboard.core.context import MetricContext, Unavailable
from dashboard.core.metrics import METRIC_TABLES, compute_table
from dashboard.core.params import Params
from dashboard.core.source import Source


@dataclass
class ExportResult:
    written: dict[str, int] = field(default_factory=dict)  # table -> rows
    unavailable: dict[str, str] = field(default_factory=dict)  # table -> reason


def csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of a metric table."""
    buffer = io.StringIO()
    csv_ready(frame).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            out[column] = series.map({True: "true", False: "false"}).astype("object")
        elif pd.api.types.is_datetime64_any_dtype(series):
            out[column] = series.dt.strftime("%Y-%m-%d")
        elif series.dtype == object:
            out[column] = series.map(_cell)
    return out


def _cell(value):
    # Decimal and date objects from DuckDB print as plain text; None stays empty.
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10]
    return value


def export_tables(
    source: Source,
    params: Params,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    tables: tuple[str, ...] = METRIC_TABLES,
) -> ExportResult:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    ctx = MetricContext(source, params)
    try:
        for number, name in enumerate(tables, start=1):
            if progress:
                progress(f"[{number}/{len(tables)}] {name}")
            try:
                frame = compute_table(name, ctx)
            except Unavailable as reason:
                result.unavailable[name] = str(reason)
                continue
            (out / f"{name}.csv").write_text(csv_text(frame), encoding="utf-8")
            result.written[name] = len(frame)
    finally:
        ctx.close()
    return result
