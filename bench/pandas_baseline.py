"""The headline tables the way an analyst writes them in a notebook: pandas over the Parquet files.

The benchmark's yardstick, not a second implementation to maintain. It covers what the issue
names — buyer_weekly with last-touch attribution (`pd.merge_asof`), business_weekly,
seller_weekly and retention (visit and purchase basis, category ALL) — with the default
parameters only (UTC weeks, a 7-day window, N = 5, no filters) and for a clean source with a
`sellers` table, such as the demo. Straightforward pandas: read every column of every file it
needs, `groupby`, `nunique`, `merge`, a `groupby().apply` where a loop is the natural way to
say it. No tuning, because the point is to measure what the engine saves over the usual way.

`compare()` checks that the baseline's numbers are the engine's (to 1e-9), so that a speed-up
is measured between equal answers.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW = pd.Timedelta(days=7)
N_SALES = 5
TABLES = ("buyer_weekly", "business_weekly", "seller_weekly", "retention")
MONEY = ("price", "market_price", "commission", "delivery_cost", "discount")
# Relative tolerance of the comparison, with the same floor for values near 0 (money is exact
# DECIMAL in the engine and float here; a difference of 1e-9 currency units is no difference).
RTOL = ATOL = 1e-9


def week_of(ts: pd.Series) -> pd.Series:
    """Monday 00:00 of the ISO week of each (UTC) timestamp."""
    day = ts.dt.normalize()
    return day - pd.to_timedelta(day.dt.day_of_week, unit="D")


def read(folder: str | Path) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    data = {name: pd.read_parquet(folder / f"{name}.parquet")
            for name in ("events", "orders", "items", "sellers", "reviews", "ad_spend")}
    for column in MONEY:
        if column in data["orders"]:
            data["orders"][column] = data["orders"][column].astype("float64")
    data["items"]["market_price"] = data["items"]["market_price"].astype("float64")
    data["ad_spend"]["amount"] = data["ad_spend"]["amount"].astype("float64")
    data["ad_spend"]["date"] = pd.to_datetime(data["ad_spend"]["date"])
    return data


def prepare(data: dict[str, pd.DataFrame]) -> dict:
    """What several tables share: weeks, order lines with their touch click, events' weeks."""
    events, orders, items = data["events"], data["orders"], data["items"]
    events = events.assign(week_start=week_of(events["ts"]), day=events["ts"].dt.normalize())

    first_day = min(events["ts"].min(), orders["ts"].min()).normalize()
    last_day = max(events["ts"].max(), orders["ts"].max()).normalize()
    weeks = pd.DataFrame({"week_start": pd.date_range(week_of(pd.Series([first_day]))[0],
                                                      week_of(pd.Series([last_day]))[0], freq="7D")})
    week_end_day = weeks["week_start"] + pd.Timedelta(days=6)
    weeks["is_complete"] = week_end_day <= last_day
    weeks["days_in_range"] = ((np.minimum(week_end_day, last_day) - np.maximum(weeks["week_start"], first_day)).dt.days + 1)

    lines = orders.merge(items[["item_id", "seller_id", "category", "market_price"]], on="item_id",
                         how="left", suffixes=("", "_item"))
    lines["seller_id"] = lines["seller_id"].fillna(lines["seller_id_item"])
    for column in ("commission", "delivery_cost", "discount"):
        lines[column] = lines[column].fillna(0.0)
    lines["returned"] = lines["returned"].fillna(False).astype(bool)
    lines["line_value"] = lines["price"] * lines["quantity"]
    lines["week_start"] = week_of(lines["ts"])

    # Last touch: the latest click on the item by the user at most 7 days before (ties on the
    # click's instant go to the larger event_id).
    clicks = (events[events["event_type"] == "click"]
              .sort_values("event_id")
              .drop_duplicates(["user_id", "item_id", "ts"], keep="last"))
    touches = (clicks[["user_id", "item_id", "ts", "event_id", "block"]]
               .rename(columns={"ts": "touch_ts", "event_id": "touch_event_id", "block": "touch_block"})
               .sort_values("touch_ts"))

    def attribute(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.merge_asof(frame.sort_values("ts"), touches, left_on="ts", right_on="touch_ts",
                            by=["user_id", "item_id"], direction="backward", tolerance=WINDOW)
        out["attributed"] = out["touch_ts"].notna()
        return out

    carts = events[events["event_type"] == "add_to_cart"][["event_id", "ts", "user_id", "item_id", "week_start"]]
    return {"events": events, "weeks": weeks, "lines": attribute(lines), "carts": attribute(carts)}


def buyer_weekly(shared: dict) -> pd.DataFrame:
    events, weeks, lines, carts = shared["events"], shared["weeks"], shared["lines"], shared["carts"]
    rec = events[events["event_type"].isin(["impression", "click"])].copy()
    rec["is_impression"] = rec["event_type"] == "impression"
    rec["is_click"] = rec["event_type"] == "click"
    impressions = rec[rec["is_impression"]]
    attributed = lines[lines["attributed"]].rename(columns={"touch_block": "block"})
    attributed_carts = carts[carts["attributed"]].rename(columns={"touch_block": "block"})
    converted_click_ids = set(attributed["touch_event_id"])
    converted_clicks = rec[rec["is_click"] & rec["event_id"].isin(converted_click_ids)]
    impression_users = impressions[["week_start", "block", "user_id"]].drop_duplicates()
    line_users = attributed[["week_start", "block", "user_id"]].drop_duplicates()

    def summarise(keys: list[str]) -> pd.DataFrame:
        funnel = rec.groupby(keys).agg(impressions=("is_impression", "sum"), clicks=("is_click", "sum"))
        funnel["rec_users"] = impressions.groupby(keys)["user_id"].nunique()
        purchases = attributed.groupby(keys).agg(attributed_lines=("order_id", "size"),
                                                 attributed_orders=("order_id", "nunique"),
                                                 attributed_gmv=("line_value", "sum"))
        converted = (impression_users[keys + ["user_id"]].drop_duplicates()
                     .merge(line_users[keys + ["user_id"]].drop_duplicates())
                     .groupby(keys).size().rename("converted_users"))
        return (funnel.join(purchases, how="outer")
                .join(attributed_carts.groupby(keys).size().rename("attributed_carts"), how="outer")
                .join(converted, how="outer")
                .join(converted_clicks.groupby(keys).size().rename("converted_clicks"), how="outer")
                .reset_index())

    per_block = summarise(["week_start", "block"])
    overall = summarise(["week_start"]).assign(block="ALL")
    blocks = sorted(events["block"].dropna().unique())
    grid = weeks[["week_start"]].merge(pd.DataFrame({"block": blocks + ["ALL"]}), how="cross")
    out = grid.merge(pd.concat([per_block, overall]), on=["week_start", "block"], how="left")
    counts = ["impressions", "clicks", "rec_users", "converted_users", "attributed_carts", "attributed_lines",
              "attributed_orders", "converted_clicks"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["attributed_gmv"] = out["attributed_gmv"].fillna(0.0)
    out["ctr"] = out["clicks"] / out["impressions"].replace(0, np.nan)
    out["buyer_conversion"] = out["converted_users"] / out["rec_users"].replace(0, np.nan)
    out["click_conversion"] = out["converted_clicks"] / out["clicks"].replace(0, np.nan)
    out = out.sort_values(["week_start", "block"], key=lambda s: s if s.name == "week_start" else s.map(lambda b: (b == "ALL", b)))
    return out[["week_start", "block", "impressions", "clicks", "ctr", "rec_users", "converted_users",
                "buyer_conversion", "attributed_carts", "attributed_lines", "attributed_orders",
                "attributed_gmv", "click_conversion"]].reset_index(drop=True)


def business_weekly(shared: dict, data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    events, weeks, lines = shared["events"], shared["weeks"], shared["lines"]
    out = weeks.set_index("week_start")
    out["user_days"] = events.groupby(["week_start", "day"])["user_id"].nunique().groupby("week_start").sum()
    out["wau"] = events.groupby("week_start")["user_id"].nunique()
    user_weeks = events[["week_start", "user_id"]].drop_duplicates()
    # MAU: users of the week and the three before (28 days ending with the week)
    spread = pd.concat([user_weeks.assign(week_start=user_weeks["week_start"] + pd.Timedelta(weeks=k)) for k in range(4)])
    out["mau"] = spread.drop_duplicates().groupby("week_start").size()

    sales = lines.groupby("week_start").agg(buyers=("user_id", "nunique"), orders=("order_id", "nunique"),
                                            gmv=("line_value", "sum"), delivery_cost=("delivery_cost", "sum"),
                                            discount=("discount", "sum"))
    out = out.join(sales)
    out["returns_gmv"] = lines[lines["returned"]].groupby("week_start")["line_value"].sum()
    out["commission"] = lines[~lines["returned"]].groupby("week_start")["commission"].sum()
    out["rec_gmv"] = lines[lines["attributed"]].groupby("week_start")["line_value"].sum()
    first_week = week_of(data["orders"].groupby("user_id")["ts"].min()).rename("first_week")
    with_first = lines.merge(first_week, left_on="user_id", right_index=True)
    out["new_buyers"] = with_first[with_first["first_week"] == with_first["week_start"]].groupby("week_start")["user_id"].nunique()
    ads = data["ad_spend"]
    out["ad_revenue"] = ads.groupby(week_of(ads["date"]))["amount"].sum()
    out = out.fillna({c: 0 for c in ["user_days", "wau", "mau", "buyers", "orders", "gmv", "delivery_cost", "discount",
                                     "returns_gmv", "commission", "rec_gmv", "new_buyers", "ad_revenue"]})
    out = out.reset_index()
    for column in ("wau", "mau", "buyers", "new_buyers", "orders"):
        out[column] = out[column].astype("int64")
    out["dau_avg"] = out["user_days"] / out["days_in_range"]
    out["stickiness"] = out["dau_avg"] / out["mau"].replace(0, np.nan)
    out["aov"] = out["gmv"] / out["orders"].replace(0, np.nan)
    out["net_gmv"] = out["gmv"] - out["returns_gmv"]
    out["revenue"] = out["commission"] + out["ad_revenue"]
    out["contribution"] = out["revenue"] - out["delivery_cost"] - out["discount"]
    out["margin"] = out["contribution"] / out["net_gmv"].replace(0, np.nan)
    out["rec_gmv_share"] = out["rec_gmv"] / out["gmv"].replace(0, np.nan)
    return out[["week_start", "is_complete", "dau_avg", "wau", "mau", "stickiness", "buyers", "new_buyers", "orders",
                "gmv", "aov", "returns_gmv", "net_gmv", "commission", "ad_revenue", "revenue", "delivery_cost",
                "discount", "contribution", "margin", "rec_gmv_share"]]


def seller_weekly(shared: dict, data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    weeks, lines = shared["weeks"], shared["lines"]
    sellers, items = data["sellers"], data["items"]
    spans = weeks[["week_start"]].merge(sellers, how="cross")
    week_end = spans["week_start"] + pd.Timedelta(days=7)
    active = spans[(spans["joined_at"].isna() | (spans["joined_at"] < week_end))
                   & (spans["left_at"].isna() | (spans["left_at"] >= spans["week_start"]))][["week_start", "seller_id"]]
    sales = (lines[lines["seller_id"].notna()].groupby(["week_start", "seller_id"])
             .agg(sales=("order_id", "nunique"), gmv=("line_value", "sum")).reset_index())
    active = active.merge(sales, on=["week_start", "seller_id"], how="left").fillna({"sales": 0, "gmv": 0.0})

    out = weeks[["week_start"]].set_index("week_start")
    by_week = active.groupby("week_start")
    out["active_sellers"] = by_week.size()
    out["sellers_gt_n"] = by_week["sales"].apply(lambda s: int((s > N_SALES).sum()))
    out["sellers_with_sales"] = by_week["sales"].apply(lambda s: int((s >= 1).sum()))

    selling = active[active["sales"] >= 1]
    next_week = sales.assign(week_start=sales["week_start"] - pd.Timedelta(days=7))[["week_start", "seller_id"]]
    again = selling.merge(next_week, on=["week_start", "seller_id"]).groupby("week_start").size()
    retention = again.reindex(out.index).fillna(0) / out["sellers_with_sales"].replace(0, np.nan)
    retention[retention.index == weeks["week_start"].max()] = np.nan
    out["seller_retention_next_week"] = retention

    listed = items[items["created_at"].notna()]
    listings = pd.DataFrame({"week_start": week_of(listed["created_at"]), "seller_id": listed["seller_id"]}).drop_duplicates()
    out["listing_sellers"] = active.merge(listings).groupby("week_start").size()

    reviews = data["reviews"].merge(items[["item_id", "seller_id"]], on="item_id", how="left", suffixes=("", "_item"))
    reviews["seller_id"] = reviews["seller_id"].fillna(reviews["seller_id_item"])
    reviews = reviews[reviews["seller_id"].notna()]
    reviews["week_start"] = week_of(reviews["ts"])
    reviews["replied"] = reviews["replied_at"] <= reviews["ts"] + pd.Timedelta(days=7)
    reviewed = reviews.groupby(["week_start", "seller_id"])["replied"].any().groupby("week_start")
    out["review_sellers"] = reviewed.size()
    out["replying_sellers"] = reviewed.sum()

    def top10_share(gmv: pd.Series) -> float:
        top = math.ceil(len(gmv) / 10)
        total = gmv.sum()
        return gmv.sort_values(ascending=False).iloc[:top].sum() / total if total else np.nan

    def gini(gmv: pd.Series) -> float:
        x = np.sort(gmv.to_numpy())
        n, total = len(x), x.sum()
        return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total)) if total else np.nan

    out["gmv_top10_share"] = selling.groupby("week_start")["gmv"].apply(top10_share)
    out["gmv_gini"] = by_week["gmv"].apply(gini)
    out = out.reset_index()
    for column in ("active_sellers", "sellers_gt_n", "sellers_with_sales", "review_sellers"):
        out[column] = out[column].fillna(0).astype("int64")
    out["n_threshold"] = N_SALES
    out["share_gt_n"] = out["sellers_gt_n"] / out["active_sellers"].replace(0, np.nan)
    out["new_assortment_share"] = out["listing_sellers"].fillna(0) / out["active_sellers"].replace(0, np.nan)
    out["reply_share"] = out["replying_sellers"] / out["review_sellers"].replace(0, np.nan)
    return out[["week_start", "active_sellers", "n_threshold", "sellers_gt_n", "share_gt_n", "sellers_with_sales",
                "seller_retention_next_week", "new_assortment_share", "review_sellers", "reply_share",
                "gmv_top10_share", "gmv_gini"]]


def retention(shared: dict) -> pd.DataFrame:
    weeks = shared["weeks"]
    complete = set(weeks.loc[weeks["is_complete"], "week_start"])
    frames = []
    for basis, activity in (("purchase", shared["lines"]), ("visit", shared["events"])):
        active = activity[["user_id", "week_start"]].drop_duplicates()
        cohort = active.groupby("user_id")["week_start"].min().rename("cohort_week")
        active = active.join(cohort, on="user_id")
        sizes = cohort.value_counts()
        sizes = sizes[sizes.index.isin(complete)]
        active["weeks_since"] = (active["week_start"] - active["cohort_week"]).dt.days // 7
        retained = active.groupby(["cohort_week", "weeks_since"]).size()
        rows = [(cohort_week, k, size, int(retained.get((cohort_week, k), 0)))
                for cohort_week, size in sizes.items() for k in range(13)
                if cohort_week + pd.Timedelta(weeks=k) in complete]
        frame = pd.DataFrame(rows, columns=["cohort_week", "weeks_since", "cohort_size", "retained"])
        frames.append(frame.assign(basis=basis, category="ALL"))
    out = pd.concat(frames).sort_values(["basis", "cohort_week", "weeks_since"])
    out["retention"] = out["retained"] / out["cohort_size"]
    return out[["basis", "category", "cohort_week", "weeks_since", "cohort_size", "retained", "retention"]].reset_index(drop=True)


def timed_tables(folder: str | Path, read, prepare, builders) -> tuple[dict, dict[str, float]]:
    """`read(folder)`, `prepare(data)`, then each table of `builders` (name -> build(shared, data)),
    and how long each step took (seconds). Both baselines are timed by this one loop."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = read(folder)
    timings["read"] = time.perf_counter() - start
    start = time.perf_counter()
    shared = prepare(data)
    timings["prepare"] = time.perf_counter() - start
    tables = {}
    for name, build in builders.items():
        start = time.perf_counter()
        tables[name] = build(shared, data)
        timings[name] = time.perf_counter() - start
    return tables, timings


def run(folder: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The four tables and how long each step took (seconds): read, prepare, then one per table."""
    return timed_tables(folder, read, prepare, {
        "buyer_weekly": lambda shared, data: buyer_weekly(shared),
        "business_weekly": business_weekly,
        "seller_weekly": seller_weekly,
        "retention": lambda shared, data: retention(shared),
    })


def engine_headline(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The engine's tables narrowed to what the baseline computes (retention: category ALL)."""
    out = dict(frames)
    if "retention" in out:
        out["retention"] = out["retention"][out["retention"]["category"] == "ALL"].reset_index(drop=True)
    return out


def compare(engine: dict[str, pd.DataFrame], baseline: dict[str, pd.DataFrame]) -> list[str]:
    """Differences between the engine's headline tables and the baseline's, one sentence each."""
    problems: list[str] = []
    engine = engine_headline(engine)
    for name in TABLES:
        a, b = engine[name].reset_index(drop=True), baseline[name].reset_index(drop=True)
        if list(a.columns) != list(b.columns):
            problems.append(f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}")
            continue
        if len(a) != len(b):
            problems.append(f"{name}: {len(a)} rows in the engine, {len(b)} in the baseline")
            continue
        for column in a.columns:
            x, y = a[column], b[column]
            if pd.api.types.is_bool_dtype(x) or not pd.api.types.is_numeric_dtype(x):
                same = (x.astype("object").where(x.notna(), None) == y.astype("object").where(y.notna(), None)) | (x.isna() & y.isna())
                if pd.api.types.is_datetime64_any_dtype(x):
                    same = pd.to_datetime(x).values == pd.to_datetime(y).values
            else:
                xs = pd.to_numeric(x, errors="coerce").astype("float64").to_numpy()
                ys = pd.to_numeric(y, errors="coerce").astype("float64").to_numpy()
                same = np.isclose(xs, ys, rtol=RTOL, atol=ATOL, equal_nan=True)
            bad = np.flatnonzero(~np.asarray(same, dtype=bool))
            if len(bad):
                i = bad[0]
                problems.append(f"{name}.{column}: {len(bad)} of {len(a)} rows differ, first at row {i}: "
                                f"engine {a.iloc[i][column]!r} vs baseline {b.iloc[i][column]!r}")
    return problems
