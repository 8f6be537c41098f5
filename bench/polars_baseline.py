"""The headline tables the way a data person would write them today: Polars, lazy API.

The second yardstick beside `pandas_baseline.py`, computing the same four tables with the same
definitions — buyer_weekly with last-touch attribution (`join_asof`, backward, 7-day tolerance,
by user and item), business_weekly, seller_weekly and retention (visit and purchase basis,
category ALL) — with the default parameters only (UTC weeks, a 7-day window, N = 5, no filters)
and for a clean source with a `sellers` table, such as the demo.

Idiomatic Polars: every file read once into a DataFrame (timed as `read`, as pandas' read and
the engine's load), then lazy queries — expressions, `group_by().agg()`, joins, `join_asof` —
collected per step so that each step has its own time: `prepare` (what several tables share:
the events with their weeks, the week grid, the order lines and carts with their touch click),
then one per table. Polars runs on every core (as the engine's DuckDB does); no tuning beyond
writing each table as one lazy query.

`pandas_baseline.compare()` checks the result against the engine's tables (1e-9), so that a
speed-up is measured between equal answers.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl

from bench.pandas_baseline import N_SALES, TABLES, compare, timed_tables  # noqa: F401  (compare: for callers)

WINDOW = "7d"
MONEY = ("price", "market_price", "commission", "delivery_cost", "discount")
RETENTION_WEEKS = 13  # weeks since the cohort's first: 0..12


def week_of(column: str | pl.Expr) -> pl.Expr:
    """Monday 00:00 of the ISO week of each (UTC) timestamp."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.truncate("1w")


def _ratio(numerator: str | pl.Expr, denominator: str) -> pl.Expr:
    """numerator / denominator, null where the denominator is 0 or null (as pandas' NaN)."""
    top = pl.col(numerator) if isinstance(numerator, str) else numerator
    return pl.when(pl.col(denominator) != 0).then(top / pl.col(denominator))


def read(folder: str | Path) -> dict[str, pl.DataFrame]:
    folder = Path(folder)
    data = {name: pl.read_parquet(folder / f"{name}.parquet")
            for name in ("events", "orders", "items", "sellers", "reviews", "ad_spend")}
    data["orders"] = data["orders"].with_columns(
        pl.col(c).cast(pl.Float64) for c in MONEY if c in data["orders"].columns)
    data["items"] = data["items"].with_columns(pl.col("market_price").cast(pl.Float64))
    data["ad_spend"] = data["ad_spend"].with_columns(pl.col("amount").cast(pl.Float64),
                                                     pl.col("date").cast(pl.Datetime("us")))
    return data


def prepare(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """What several tables share: weeks, order lines with their touch click, events' weeks."""
    events = data["events"].lazy().with_columns(week_start=week_of("ts"), day=pl.col("ts").dt.truncate("1d"))
    orders, items = data["orders"].lazy(), data["items"].lazy()

    bounds = pl.concat([events.select("ts"), orders.select("ts")]).select(
        first=pl.col("ts").min().dt.truncate("1d"), last=pl.col("ts").max().dt.truncate("1d"))
    weeks = (
        bounds.select(week_start=pl.datetime_range(week_of(pl.col("first").first()), week_of(pl.col("last").first()),
                                                   "1w"),
                      first=pl.col("first").first(), last=pl.col("last").first())
        .with_columns(week_end_day=pl.col("week_start") + pl.duration(days=6))
        .select("week_start",
                is_complete=pl.col("week_end_day") <= pl.col("last"),
                days_in_range=(pl.min_horizontal("week_end_day", "last") - pl.max_horizontal("week_start", "first"))
                .dt.total_days() + 1)
    )

    lines = (
        orders.join(items.select("item_id", "seller_id", "category", "market_price"), on="item_id", how="left",
                    suffix="_item")
        .with_columns(pl.col("seller_id").fill_null(pl.col("seller_id_item")),
                      pl.col("commission", "delivery_cost", "discount").fill_null(0.0),
                      pl.col("returned").fill_null(False),
                      line_value=pl.col("price") * pl.col("quantity"),
                      week_start=week_of("ts"))
    )

    # Last touch: the latest click on the item by the user at most 7 days before (ties on the
    # click's instant go to the larger event_id).
    touches = (
        events.filter(pl.col("event_type") == "click")
        .sort("event_id")
        .unique(["user_id", "item_id", "ts"], keep="last")
        .select("user_id", "item_id", touch_ts="ts", touch_event_id="event_id", touch_block="block")
        .sort("touch_ts")
    )

    def attribute(frame: pl.LazyFrame) -> pl.LazyFrame:
        return (frame.sort("ts")
                .join_asof(touches, left_on="ts", right_on="touch_ts", by=["user_id", "item_id"],
                           strategy="backward", tolerance=WINDOW, check_sortedness=False)
                .with_columns(attributed=pl.col("touch_ts").is_not_null()))

    carts = events.filter(pl.col("event_type") == "add_to_cart").select("event_id", "ts", "user_id", "item_id",
                                                                         "week_start")
    collected = pl.collect_all([events, weeks, attribute(lines), attribute(carts)])
    return dict(zip(("events", "weeks", "lines", "carts"), collected))


def buyer_weekly(shared: dict[str, pl.DataFrame]) -> pl.DataFrame:
    events, weeks = shared["events"].lazy(), shared["weeks"].lazy()
    rec = (events.filter(pl.col("event_type").is_in(["impression", "click"]))
           .with_columns(is_impression=pl.col("event_type") == "impression", is_click=pl.col("event_type") == "click"))
    impressions = rec.filter("is_impression")
    attributed = shared["lines"].lazy().filter("attributed").rename({"touch_block": "block"})
    attributed_carts = shared["carts"].lazy().filter("attributed").rename({"touch_block": "block"})
    converted_clicks = rec.filter("is_click").join(attributed.select(event_id="touch_event_id").unique(),
                                                   on="event_id", how="semi")

    def summarise(keys: list[str]) -> pl.LazyFrame:
        parts = [
            rec.group_by(keys).agg(impressions=pl.col("is_impression").sum(), clicks=pl.col("is_click").sum()),
            impressions.group_by(keys).agg(rec_users=pl.col("user_id").n_unique()),
            attributed.group_by(keys).agg(attributed_lines=pl.len(), attributed_orders=pl.col("order_id").n_unique(),
                                          attributed_gmv=pl.col("line_value").sum()),
            attributed_carts.group_by(keys).agg(attributed_carts=pl.len()),
            (impressions.select(*keys, "user_id").unique()
             .join(attributed.select(*keys, "user_id").unique(), on=[*keys, "user_id"])
             .group_by(keys).agg(converted_users=pl.len())),
            converted_clicks.group_by(keys).agg(converted_clicks=pl.len()),
        ]
        out = parts[0]
        for part in parts[1:]:
            out = out.join(part, on=keys, how="full", coalesce=True)
        return out

    per_block = summarise(["week_start", "block"]).filter(pl.col("block").is_not_null())
    overall = summarise(["week_start"]).with_columns(block=pl.lit("ALL"))
    blocks = events.select(pl.col("block").drop_nulls().unique()).with_columns(pl.col("block"))
    grid = weeks.select("week_start").join(pl.concat([blocks, pl.LazyFrame({"block": ["ALL"]})]), how="cross")
    counts = ["impressions", "clicks", "rec_users", "converted_users", "attributed_carts", "attributed_lines",
              "attributed_orders", "converted_clicks"]
    return (
        grid.join(pl.concat([per_block, overall], how="diagonal"), on=["week_start", "block"], how="left")
        .with_columns(pl.col(counts).fill_null(0).cast(pl.Int64), pl.col("attributed_gmv").fill_null(0.0))
        .with_columns(ctr=_ratio("clicks", "impressions"), buyer_conversion=_ratio("converted_users", "rec_users"),
                      click_conversion=_ratio("converted_clicks", "clicks"))
        .sort(["week_start", pl.col("block") == "ALL", "block"])
        .select("week_start", "block", "impressions", "clicks", "ctr", "rec_users", "converted_users",
                "buyer_conversion", "attributed_carts", "attributed_lines", "attributed_orders", "attributed_gmv",
                "click_conversion")
        .collect()
    )


def business_weekly(shared: dict[str, pl.DataFrame], data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    events, weeks, lines = shared["events"].lazy(), shared["weeks"].lazy(), shared["lines"].lazy()
    user_weeks = events.select("week_start", "user_id").unique()
    # MAU: users of the week and the three before (28 days ending with the week)
    mau = (pl.concat([user_weeks.with_columns(pl.col("week_start") + pl.duration(weeks=k)) for k in range(4)])
           .unique().group_by("week_start").agg(mau=pl.len()))
    first_week = data["orders"].lazy().group_by("user_id").agg(first_week=week_of(pl.col("ts").min()))
    ads = data["ad_spend"].lazy()
    parts = [
        events.group_by("week_start", "day").agg(n=pl.col("user_id").n_unique())
        .group_by("week_start").agg(user_days=pl.col("n").sum()),
        events.group_by("week_start").agg(wau=pl.col("user_id").n_unique()),
        mau,
        lines.group_by("week_start").agg(buyers=pl.col("user_id").n_unique(), orders=pl.col("order_id").n_unique(),
                                         gmv=pl.col("line_value").sum(), delivery_cost=pl.col("delivery_cost").sum(),
                                         discount=pl.col("discount").sum()),
        lines.filter("returned").group_by("week_start").agg(returns_gmv=pl.col("line_value").sum()),
        lines.filter(~pl.col("returned")).group_by("week_start").agg(commission=pl.col("commission").sum()),
        lines.filter("attributed").group_by("week_start").agg(rec_gmv=pl.col("line_value").sum()),
        (lines.join(first_week, on="user_id").filter(pl.col("first_week") == pl.col("week_start"))
         .group_by("week_start").agg(new_buyers=pl.col("user_id").n_unique())),
        ads.group_by(week_start=week_of("date")).agg(ad_revenue=pl.col("amount").sum()),
    ]
    out = weeks
    for part in parts:
        out = out.join(part, on="week_start", how="left")
    zero = ["user_days", "wau", "mau", "buyers", "orders", "gmv", "delivery_cost", "discount", "returns_gmv",
            "commission", "rec_gmv", "new_buyers", "ad_revenue"]
    return (
        out.with_columns(pl.col(zero).fill_null(0))
        .with_columns(pl.col("wau", "mau", "buyers", "new_buyers", "orders").cast(pl.Int64),
                      dau_avg=pl.col("user_days") / pl.col("days_in_range"),
                      aov=_ratio("gmv", "orders"),
                      net_gmv=pl.col("gmv") - pl.col("returns_gmv"),
                      revenue=pl.col("commission") + pl.col("ad_revenue"),
                      rec_gmv_share=_ratio("rec_gmv", "gmv"))
        .with_columns(stickiness=_ratio("dau_avg", "mau"),
                      contribution=pl.col("revenue") - pl.col("delivery_cost") - pl.col("discount"))
        .with_columns(margin=_ratio("contribution", "net_gmv"))
        .sort("week_start")
        .select("week_start", "is_complete", "dau_avg", "wau", "mau", "stickiness", "buyers", "new_buyers", "orders",
                "gmv", "aov", "returns_gmv", "net_gmv", "commission", "ad_revenue", "revenue", "delivery_cost",
                "discount", "contribution", "margin", "rec_gmv_share")
        .collect()
    )


def seller_weekly(shared: dict[str, pl.DataFrame], data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    weeks, lines = shared["weeks"].lazy(), shared["lines"].lazy()
    sellers, items = data["sellers"].lazy(), data["items"].lazy()
    week_end = pl.col("week_start") + pl.duration(days=7)
    sales = (lines.filter(pl.col("seller_id").is_not_null()).group_by("week_start", "seller_id")
             .agg(sales=pl.col("order_id").n_unique(), gmv=pl.col("line_value").sum()))
    active = (
        weeks.select("week_start").join(sellers, how="cross")
        .filter((pl.col("joined_at").is_null() | (pl.col("joined_at") < week_end))
                & (pl.col("left_at").is_null() | (pl.col("left_at") >= pl.col("week_start"))))
        .select("week_start", "seller_id")
        .join(sales, on=["week_start", "seller_id"], how="left")
        .with_columns(pl.col("sales").fill_null(0), pl.col("gmv").fill_null(0.0))
    )
    selling = active.filter(pl.col("sales") >= 1)
    gmv_sorted = pl.col("gmv").sort()
    rank = pl.int_range(1, pl.len() + 1)
    by_week = active.group_by("week_start").agg(
        active_sellers=pl.len(),
        sellers_gt_n=(pl.col("sales") > N_SALES).sum(),
        sellers_with_sales=(pl.col("sales") >= 1).sum(),
        # Gini of the sellers' GMV: Σ (2i − n − 1) x_(i) / (n Σ x), x sorted ascending
        gmv_gini=pl.when(pl.col("gmv").sum() != 0).then(
            ((2 * rank - pl.len() - 1) * gmv_sorted).sum() / (pl.len() * pl.col("gmv").sum())),
    )
    top10 = selling.group_by("week_start").agg(
        gmv_top10_share=pl.when(pl.col("gmv").sum() != 0).then(
            pl.col("gmv").sort(descending=True).filter(pl.int_range(pl.len()) < (pl.len() + 9) // 10).sum()
            / pl.col("gmv").sum()))
    next_week = sales.select(pl.col("week_start") - pl.duration(days=7), "seller_id")
    again = selling.join(next_week, on=["week_start", "seller_id"]).group_by("week_start").agg(again=pl.len())
    listings = (items.filter(pl.col("created_at").is_not_null())
                .select(week_start=week_of("created_at"), seller_id=pl.col("seller_id")).unique())
    listing_sellers = active.join(listings, on=["week_start", "seller_id"]).group_by("week_start").agg(
        listing_sellers=pl.len())
    reviews = (
        data["reviews"].lazy().join(items.select("item_id", "seller_id"), on="item_id", how="left", suffix="_item")
        .with_columns(pl.col("seller_id").fill_null(pl.col("seller_id_item")))
        .filter(pl.col("seller_id").is_not_null())
        .with_columns(week_start=week_of("ts"),
                      replied=(pl.col("replied_at") <= pl.col("ts") + pl.duration(days=7)).fill_null(False))
        .group_by("week_start", "seller_id").agg(pl.col("replied").any())
        .group_by("week_start").agg(review_sellers=pl.len(), replying_sellers=pl.col("replied").sum())
    )
    last_week = pl.col("week_start") == pl.col("week_start").max()
    out = weeks.select("week_start")
    for part in (by_week, again, listing_sellers, reviews, top10):
        out = out.join(part, on="week_start", how="left")
    return (
        out.with_columns(
            seller_retention_next_week=pl.when(~last_week).then(
                _ratio(pl.col("again").fill_null(0), "sellers_with_sales")))
        .with_columns(pl.col("active_sellers", "sellers_gt_n", "sellers_with_sales", "review_sellers")
                      .fill_null(0).cast(pl.Int64))
        .with_columns(n_threshold=pl.lit(N_SALES, pl.Int64),
                      share_gt_n=_ratio("sellers_gt_n", "active_sellers"),
                      new_assortment_share=_ratio(pl.col("listing_sellers").fill_null(0), "active_sellers"),
                      reply_share=_ratio("replying_sellers", "review_sellers"))
        .sort("week_start")
        .select("week_start", "active_sellers", "n_threshold", "sellers_gt_n", "share_gt_n", "sellers_with_sales",
                "seller_retention_next_week", "new_assortment_share", "review_sellers", "reply_share",
                "gmv_top10_share", "gmv_gini")
        .collect()
    )


def retention(shared: dict[str, pl.DataFrame]) -> pl.DataFrame:
    complete = shared["weeks"].lazy().filter("is_complete").select("week_start")
    since = pl.LazyFrame({"weeks_since": list(range(RETENTION_WEEKS))})
    frames = []
    for basis, activity in (("purchase", shared["lines"]), ("visit", shared["events"])):
        active = activity.lazy().select("user_id", "week_start").unique()
        cohort = active.group_by("user_id").agg(cohort_week=pl.col("week_start").min())
        retained = (active.join(cohort, on="user_id")
                    .with_columns(weeks_since=(pl.col("week_start") - pl.col("cohort_week")).dt.total_days() // 7)
                    .group_by("cohort_week", "weeks_since").agg(retained=pl.len()))
        sizes = (cohort.group_by("cohort_week").agg(cohort_size=pl.len())
                 .join(complete, left_on="cohort_week", right_on="week_start", how="semi"))
        frames.append(
            sizes.join(since, how="cross")
            .with_columns(week=pl.col("cohort_week") + pl.duration(weeks=pl.col("weeks_since")))
            .join(complete, left_on="week", right_on="week_start", how="semi")
            .join(retained, on=["cohort_week", "weeks_since"], how="left")
            .with_columns(pl.col("retained").fill_null(0), basis=pl.lit(basis), category=pl.lit("ALL"))
        )
    return (
        pl.concat(frames)
        .with_columns(pl.col("weeks_since").cast(pl.Int64), pl.col("cohort_size", "retained").cast(pl.Int64))
        .with_columns(retention=pl.col("retained") / pl.col("cohort_size"))
        .sort("basis", "cohort_week", "weeks_since")
        .select("basis", "category", "cohort_week", "weeks_since", "cohort_size", "retained", "retention")
        .collect()
    )


def run(folder: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The four tables (as pandas frames, for compare) and how long each step took (seconds):
    read, prepare, then one per table. The conversion to pandas is not timed."""
    tables, timings = timed_tables(folder, read, prepare, {
        "buyer_weekly": lambda shared, data: buyer_weekly(shared),
        "business_weekly": business_weekly,
        "seller_weekly": seller_weekly,
        "retention": lambda shared, data: retention(shared),
    })
    return {name: frame.to_pandas() for name, frame in tables.items()}, timings


if __name__ == "__main__":  # a quick look: python -m bench.polars_baseline SOURCE
    import sys

    result, took = run(sys.argv[1])
    for name, frame in result.items():
        print(name, frame.shape)
    print({k: round(v, 3) for k, v in took.items()}, dt.datetime.now().isoformat(timespec="seconds"))
