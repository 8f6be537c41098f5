-- local_ts(ts): the instant `ts` (naive UTC) as local time in the reporting zone $tz.
-- Written in a query as local_ts(e.ts); dashboard/engine/sql.py expands it into the expression
-- below (with `{ts}` the argument, a column name) when it reads the query, so that DuckDB and
-- the Spark translation (which reads the same text) see the same SQL. The query must
-- `cross join stg_tz as z`: the offset comes from its hourly list (see stg_tz.sql for why), and
-- an hour without one (a DST switch, outside the data's range, or Spark's empty twin) falls back
-- to the exact, slower timezone().
case
    when $tz = 'UTC' then {ts}
    else coalesce(
        {ts} + z.offsets[greatest((epoch_us({ts}) - z.first_hour_us) // 3600000000 + 1, 0)],
        timezone($tz, cast({ts} as timestamptz))
    )
end
