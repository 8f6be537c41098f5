"""Offline ↔ Online: which offline ML metric, if any, predicts what a model change does online."""
import streamlit as st

from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Offline ↔ Online")
st.number_input("k: cut-off of the offline metrics computed here", min_value=1, max_value=100, value=10,
                key="k", bind="query-params")
offline_online, reason = metric(source, "offline_online", params)
widgets.table(offline_online, "offline_online", params, reason)
offline, reason = metric(source, "offline_metrics", params)
st.header("Offline metrics computed from recommendations and holdout")
widgets.table(offline, "offline_metrics", params, reason)
