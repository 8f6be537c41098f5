-- stg_tz, Spark twin of queries/staging/stg_tz.sql (same grain and columns): no offsets.
-- Grain: one row. Parameters: none.
-- Why a twin: stg_tz is a DuckDB speed-up (an hourly table of UTC offsets, because DuckDB's
-- timezone() costs an ICU calendar lookup per row), built with range() over timestamps, which
-- Spark does not have. On Spark from_utc_timestamp is cheap, so the twin gives an empty lookup:
-- every reader takes its exact fallback, timezone($tz, ts) = from_utc_timestamp(ts, :tz).
select
    cast(null as bigint) as first_hour_us,
    cast(null as array<interval day to second>) as offsets
