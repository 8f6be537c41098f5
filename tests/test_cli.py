"""The command line as a scheduled job uses it: generate, validate, export; exit codes."""
import csv

import duckdb
import pytest

from conftest import write_source
from dashboard.__main__ import main

# Column names exactly as in the spec's metrics.md, in order.
EXPECTED_COLUMNS = {
    "buyer_weekly": "week_start,block,impressions,clicks,ctr,rec_users,converted_users,buyer_conversion,"
                    "attributed_carts,attributed_lines,attributed_orders,attributed_gmv,click_conversion",
    "time_to_purchase_weekly": "week_start,block,measure,n,median_min,p75_min,p90_min",
    "convenience_weekly": "week_start,feature,sessions,feature_sessions,feature_share,conv_with,conv_without,"
                          "naive_diff,matched_diff,matched_share",
    "price_weekly": "week_start,lines_with_market_price,price_index,share_below_market",
    "retention": "basis,category,cohort_week,weeks_since,cohort_size,retained,retention",
    "seller_weekly": "week_start,active_sellers,n_threshold,sellers_gt_n,share_gt_n,sellers_with_sales,"
                     "seller_retention_next_week,new_assortment_share,review_sellers,reply_share,gmv_top10_share,gmv_gini",
    "business_weekly": "week_start,is_complete,dau_avg,wau,mau,stickiness,buyers,new_buyers,orders,gmv,aov,"
                       "returns_gmv,net_gmv,commission,ad_revenue,revenue,delivery_cost,discount,contribution,margin,"
                       "rec_gmv_share",
    "offline_metrics": "model_version,metric,value",
    "experiments": "experiment_id,variant,metric,users,mean,delta_abs,delta_rel,ci_low,ci_high,p_value,srm_p_value,"
                   "ci_low_rel,ci_high_rel,p_adj_bh,pre_p_value,delta_abs_cuped,ci_low_cuped,ci_high_cuped,"
                   "p_value_cuped,variance_reduction,ci_low_seq,ci_high_seq",
    "offline_online": "offline_metric,online_metric,n_pairs,n_experiments,pearson_r,r_experiments,p_value,"
                      "r_ci_low,r_ci_high,spearman_rho,kendall_tau,sign_agreement,slope,p_adj_bh,loo_pairs,"
                      "loo_sign_accuracy,baseline_accuracy,q2",
    "off_policy": "model_version,block,estimator,n_impressions,matched_impressions,ess,estimate,ci_low,ci_high,"
                  "logged_ctr,on_policy_impressions,on_policy_ctr",
}

EVENTS_ONLY = {"events": [
    {"event_id": "e1", "ts": "2026-03-02 09:00:00", "user_id": "u1", "event_type": "impression",
     "item_id": "i1", "block": "home_feed"},
    {"event_id": "e2", "ts": "2026-03-02 09:01:00", "user_id": "u1", "event_type": "click",
     "item_id": "i1", "block": "home_feed"},
]}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_export_writes_all_ten_tables_with_exact_columns(demo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "--data", str(demo_dir), "--out", str(out)]) == 0
    written = sorted(p.stem for p in out.glob("*.csv"))
    assert written == sorted(EXPECTED_COLUMNS)
    for table, header in EXPECTED_COLUMNS.items():
        rows = read_csv(out / f"{table}.csv")
        assert ",".join(rows[0]) == header, table
        assert len(rows) > 1, table
    business = read_csv(out / "business_weekly.csv")
    assert business[1][0] == "2026-05-04"  # dates as YYYY-MM-DD
    assert business[1][1] in ("true", "false")  # booleans as true/false
    assert "." not in business[1][3]  # wau: an integer without a decimal point


def test_export_with_filters_and_options(demo_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["export", "--data", str(demo_dir), "--out", str(out), "--tz", "Europe/Berlin",
                 "--window-days", "3", "--n-sales", "2", "--k", "5", "--start", "2026-06-01",
                 "--end", "2026-06-30", "--blocks", "home_feed,similar_items", "--platform", "ios"])
    assert code == 0
    buyer = read_csv(out / "buyer_weekly.csv")
    assert {row[1] for row in buyer[1:]} == {"home_feed", "similar_items", "ALL"}
    assert {row[0] for row in buyer[1:]} == {"2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22", "2026-06-29"}
    assert {row[2] for row in read_csv(out / "seller_weekly.csv")[1:]} == {"2"}
    assert all(row[1].endswith("@5") for row in read_csv(out / "offline_metrics.csv")[1:])


def test_events_only_source_exports_what_it_can_and_says_why_not(tmp_path, capsys):
    source = write_source(tmp_path / "src", EVENTS_ONLY)
    out = tmp_path / "out"
    assert main(["export", "--data", str(source), "--out", str(out)]) == 0
    assert sorted(p.stem for p in out.glob("*.csv")) == ["business_weekly", "buyer_weekly", "retention"]
    said = capsys.readouterr().out
    assert "not written: seller_weekly.csv — seller_weekly needs the 'orders' table" in said
    assert "not written: experiments.csv" in said
    assert "not written: off_policy.csv — off_policy needs logged propensities" in said
    buyer = read_csv(out / "buyer_weekly.csv")
    assert buyer[1][:6] == ["2026-03-02", "home_feed", "1", "1", "1.0", "1"]
    assert buyer[1][6] == ""  # converted_users: unknown without orders, an empty cell


def test_duckdb_file_source(tmp_path):
    folder = write_source(tmp_path / "src", EVENTS_ONLY)
    db = tmp_path / "market.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table events as select * from read_csv($p, all_varchar = true)", {"p": str(folder / "events.csv")})
    out = tmp_path / "out"
    assert main(["export", "--data", str(db), "--out", str(out)]) == 0
    assert read_csv(out / "buyer_weekly.csv")[1][2] == "1"


def test_validate_describes_the_source(tmp_path, capsys):
    rows = EVENTS_ONLY["events"] + [{"event_id": "e3", "ts": "soon", "user_id": "u1", "event_type": "click",
                                     "item_id": "i1", "block": "home_feed"}]
    source = write_source(tmp_path / "src", {"events": rows})
    assert main(["validate", str(source)]) == 0
    said = capsys.readouterr().out
    assert "events" in said and "read          3  loaded          2  rejected        1" in said
    assert "ts: not a timestamp: 1 rows (e.g. rows 3)" in said
    assert "seller_weekly            unavailable: needs 'orders'" in said


def test_unusable_source_exits_1(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing")]) == 1
    assert "no such folder or file" in capsys.readouterr().out
    assert main(["export", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1


@pytest.mark.parametrize("options, message", [
    (["--n-sales", "-1"], "--n-sales: expected a whole number ≥ 0, got -1"),
    (["--window-days", "x"], "--window-days: expected a whole number, got 'x'"),
    (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--start", "2026-03-10", "--end", "2026-03-01"], "--end 2026-03-01 is before --start 2026-03-10"),
    (["--start", "10/03/2026"], "--start must be a date as YYYY-MM-DD, got '10/03/2026'"),
    (["--blocks", ","], "--blocks needs at least one block name"),
])
def test_bad_options_exit_2_with_one_clear_line(tmp_path, capsys, options, message):
    source = write_source(tmp_path / "src", EVENTS_ONLY)
    try:
        code = main(["export", "--data", str(source), "--out", str(tmp_path / "o"), *options])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_generate_is_deterministic(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path / "a"), "--users", "300", "--weeks", "2", "--seed", "5"]) == 0
    assert main(["generate", "--out", str(tmp_path / "b"), "--users", "300", "--weeks", "2", "--seed", "5"]) == 0
    for file in (tmp_path / "a").iterdir():
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes(), file.name
    assert "events" in capsys.readouterr().out


def test_bench_command_hands_its_options_to_the_benchmark(capsys):
    # `python -m dashboard bench` is bench/run.py: its own options, its own argument errors.
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "--help"])
    assert stopped.value.code == 0
    assert "--sizes" in capsys.readouterr().out
    assert main(["bench", "--sizes", "0"]) == 2
    assert "a size is a positive number of events" in capsys.readouterr().err


def test_experiment_options_reach_the_parameters():
    from dashboard.__main__ import build_parser, params_from_args

    args = build_parser().parse_args(["export", "--data", "d", "--out", "o", "--pre-days", "14",
                                      "--seq-tuning", "2000", "--cap-quantile", "0.99"])
    params = params_from_args(args)
    assert (params.pre_days, params.seq_tuning, params.cap_quantile) == (14, 2000, 0.99)
    defaults = params_from_args(build_parser().parse_args(["report", "--data", "d", "--out", "o.html"]))
    assert (defaults.pre_days, defaults.seq_tuning, defaults.cap_quantile) == (28, 10_000, None)


@pytest.mark.parametrize("option", [["--pre-days", "0"], ["--seq-tuning", "x"], ["--cap-quantile", "1.5"],
                                    ["--cap-quantile", "0.2"]])
def test_bad_experiment_options_exit_2(option, tmp_path):
    from dashboard.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["export", "--data", str(tmp_path), "--out", str(tmp_path / "o"), *option])
    assert exit_.value.code == 2
