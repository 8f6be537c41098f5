"""What every page needs: the current source and the filters, set up once per run by app.py."""
from __future__ import annotations

import streamlit as st

from dashboard.engine.params import Params
from dashboard.engine.source import Source
from dashboard.ui import filters
from dashboard.ui.source import current_source

_SOURCE, _PARAMS = "_current_source", "_current_params"


def start() -> None:
    """Load the source and draw the sidebar filters; pages then read them with `current()`."""
    source = current_source()
    params = filters.sidebar(source)
    st.session_state[_SOURCE] = source
    st.session_state[_PARAMS] = params


def current() -> tuple[Source, Params]:
    if _SOURCE not in st.session_state:
        start()
    return st.session_state[_SOURCE], st.session_state[_PARAMS]
