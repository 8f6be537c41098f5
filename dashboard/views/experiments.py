"""Experiments: every A/B test of recommendation models, per variant and metric."""
import streamlit as st

from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Experiments")
experiments, reason = metric(source, "experiments", params)
widgets.table(experiments, "experiments", params, reason)
