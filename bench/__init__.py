"""Benchmark of the metric engine at marketplace scale: `python bench/run.py --help`.

run.py      orchestrates: demo sources cached under bench-data/, one fresh process per run,
            medians, the table printed and written as CSV and Markdown (see docs/performance.md)
worker.py   what one measured process does: the engine, the pandas baseline or a page rerun
pandas_baseline.py   the headline tables the way a notebook analyst writes them, for the ratio
"""
