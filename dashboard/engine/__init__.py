"""The engine: the data contract, loading and validation, the SQL runner, metric tables, statistics.

No Streamlit here, and nothing from `dashboard.review` (tests/test_layers.py checks both).
docs/architecture.md draws what calls what.
"""
