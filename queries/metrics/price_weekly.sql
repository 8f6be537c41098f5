-- price_weekly: what buyers paid against the market, per week of the order.
-- Grain: one row per week_start. Parameters: the staging tables' $tz, $platform.
-- Depends: stg_weeks, stg_lines.
-- Only lines with a known market price (the line's, else the item's, resolved in stg_lines).
with priced_lines as (
    select week_start, price, market_price, quantity, line_value
    from stg_lines
    where market_price is not null
),
weekly as (
    select
        week_start,
        count(*) as lines_with_market_price,
        sum(line_value) as paid,
        sum(market_price * quantity) as market_value,
        count(*) filter (where price < market_price) as lines_below_market
    from priced_lines
    group by week_start
)
select
    w.week_start,
    coalesce(p.lines_with_market_price, 0) as lines_with_market_price,
    -- quantity-weighted: a line of 3 units weighs three times a line of 1
    p.paid / nullif(p.market_value, 0) as price_index,
    p.lines_below_market / nullif(p.lines_with_market_price, 0) as share_below_market
from stg_weeks as w
left join weekly as p using (week_start)
where w.in_filter
order by w.week_start
