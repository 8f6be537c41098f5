"""The pages cache each table on the parameters it depends on, read off its SQL: changing N must
not recompute buyer metrics, changing the attribution window must not recompute sellers."""
from dashboard.core.metrics import METRIC_TABLES, table_parameters
from dashboard.core.params import Params
from dashboard.ui.data import relevant


def test_parameters_read_off_the_sql():
    assert table_parameters("seller_weekly") == {"tz", "start", "end", "platform", "n_sales"}
    assert "n_sales" not in table_parameters("buyer_weekly")
    assert "window_days" in table_parameters("buyer_weekly")
    assert table_parameters("offline_metrics") == {"k"}
    # offline_online reads the experiments and the offline metrics
    assert table_parameters("offline_online") >= table_parameters("experiments") | {"k"}


def test_every_table_depends_on_something():
    for table in METRIC_TABLES:
        assert table_parameters(table), table


def test_changing_n_keeps_the_buyer_cache_key():
    assert relevant("buyer_weekly", Params(n_sales=9)) == relevant("buyer_weekly", Params())
    assert relevant("seller_weekly", Params(n_sales=9)) != relevant("seller_weekly", Params())


def test_changing_the_window_keeps_the_seller_cache_key():
    assert relevant("seller_weekly", Params(window_days=3)) == relevant("seller_weekly", Params())
    assert relevant("business_weekly", Params(window_days=3)) != relevant("business_weekly", Params())


def test_experiment_options_are_part_of_the_experiments_cache_key():
    # pre_days and cap_quantile are bound in the SQL; seq_tuning is read in Python
    assert {"pre_days", "cap_quantile", "seq_tuning"} <= table_parameters("experiments")
    assert {"pre_days", "cap_quantile", "seq_tuning"} <= table_parameters("offline_online")
    assert "seq_tuning" not in table_parameters("buyer_weekly")
