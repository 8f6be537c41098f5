"""The review products built on the engine: weekly review, HTML report, exports, exported folders,
KPIs, trends, experiment verdicts and health checks.

They read only the engine's public names; no Streamlit here (tests/test_layers.py checks both).
"""
