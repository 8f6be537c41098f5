"""Metric parameters: what a user can choose, checked once, then bound into every query."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass


class ParamError(ValueError):
    """A parameter value a user gave is not usable; the message says which and why."""


@dataclass(frozen=True)
class Params:
    tz: str = "UTC"
    window_days: int = 7
    n_sales: int = 5
    k: int = 10
    start: dt.date | None = None  # first local date to report (its whole week is reported)
    end: dt.date | None = None  # last local date to report (its whole week is reported)
    blocks: tuple[str, ...] | None = None  # None = every block
    platform: str | None = None  # None = every platform
    # Experiments (metrics.md v2): CUPED pre-period, tuning N* of the always-valid interval, and
    # the quantile at which money per user is winsorized (None = no capping).
    pre_days: int = 28
    seq_tuning: int = 10_000
    cap_quantile: float | None = None

    def __post_init__(self):
        check_tz(self.tz)
        if not isinstance(self.window_days, int) or self.window_days < 0:
            raise ParamError(f"--window-days must be a whole number of days ≥ 0, got {self.window_days!r}")
        if not isinstance(self.n_sales, int) or self.n_sales < 0:
            raise ParamError(f"--n-sales must be a whole number ≥ 0, got {self.n_sales!r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise ParamError(f"--k must be a whole number ≥ 1, got {self.k!r}")
        if self.start and self.end and self.end < self.start:
            raise ParamError(f"--end {self.end} is before --start {self.start}")
        if not isinstance(self.pre_days, int) or isinstance(self.pre_days, bool) or self.pre_days < 1:
            raise ParamError(f"--pre-days must be a whole number of days ≥ 1, got {self.pre_days!r}")
        if not isinstance(self.seq_tuning, int) or isinstance(self.seq_tuning, bool) or self.seq_tuning < 1:
            raise ParamError(f"--seq-tuning must be a whole number ≥ 1, got {self.seq_tuning!r}")
        if self.cap_quantile is not None and not (isinstance(self.cap_quantile, (int, float))
                                                  and 0.5 <= float(self.cap_quantile) < 1.0):
            raise ParamError(f"--cap-quantile must be a number in [0.5, 1), e.g. 0.99, got {self.cap_quantile!r}")
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(sorted(set(self.blocks))))

    def sql(self) -> dict:
        """Values for the `$name` parameters of the queries."""
        return {
            "tz": self.tz,
            "window_days": self.window_days,
            "n_sales": self.n_sales,
            "k": self.k,
            # The week range is cut to whole weeks around the chosen dates.
            "start_week": week_start(self.start) if self.start else None,
            "end_week": week_start(self.end) if self.end else None,
            "blocks": list(self.blocks) if self.blocks is not None else None,
            "platform": self.platform,
            "pre_days": self.pre_days,
            "cap_quantile": float(self.cap_quantile) if self.cap_quantile is not None else None,
        }


    def as_options(self) -> dict:
        """The values as the command line takes them, JSON-ready (export.json)."""
        return {
            "tz": self.tz, "window_days": self.window_days, "n_sales": self.n_sales, "k": self.k,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "blocks": list(self.blocks) if self.blocks is not None else None,
            "platform": self.platform,
            "pre_days": self.pre_days, "seq_tuning": self.seq_tuning, "cap_quantile": self.cap_quantile,
        }

    @classmethod
    def from_options(cls, values: dict) -> Params:
        """The inverse of as_options; ParamError, KeyError, TypeError or ValueError for bad values."""
        return cls(
            tz=values["tz"], window_days=int(values["window_days"]), n_sales=int(values["n_sales"]), k=int(values["k"]),
            start=dt.date.fromisoformat(values["start"]) if values.get("start") else None,
            end=dt.date.fromisoformat(values["end"]) if values.get("end") else None,
            blocks=tuple(values["blocks"]) if values.get("blocks") is not None else None,
            platform=values.get("platform"),
            # Absent in exports written before these options existed: their defaults.
            pre_days=int(values.get("pre_days", 28)), seq_tuning=int(values.get("seq_tuning", 10_000)),
            cap_quantile=float(values["cap_quantile"]) if values.get("cap_quantile") is not None else None,
        )


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def check_tz(tz: str) -> str:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ParamError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Berlin)") from None
    return tz


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParamError(f"{option} must be a date as YYYY-MM-DD, got {text!r}") from None
