"""Load a data source into DuckDB and check it against the data contract.

A source is a folder of `<table>.parquet|.csv|.csv.gz` files or one `.duckdb` file. Every
contract table that is present becomes a clean DuckDB table of the same name with the
contract's columns and types, except that user, item, seller and session ids are stored as
integer keys and short labels (event type, block, platform, model version, category) as ENUMs
(`keys.py`); `Source.readable_cursor()` reads the tables with the ids as text. Rows that
break the contract are rejected and counted per table, column and reason (with example row
numbers); exact duplicate rows count once. Every row read is accounted for: read = loaded +
rejected + merged duplicates.

A file that cannot be read at all is an error naming the file (and column), and then the
source as a whole is refused: nothing is half-loaded.

Hostile input, and what keeps it harmless:
- Names that reach SQL text are the contract's (`contract.TABLES`) or made here (`c0`, `c1`, …):
  a file's own column names are only compared, in Python, with the contract's; the file's
  columns are renamed by position. Values (paths, options) are bound parameters.
- The loading connection may read exactly the source's files (DuckDB `allowed_paths`, with
  `enable_external_access = false` before the first read), so a `.duckdb` view that reads
  another file fails. Each connection spills into a private folder of its own (DuckDB lets a
  connection read its temp_directory), and a `.duckdb` whose views, macros or tables read the
  server's settings is refused. After loading, the configuration is locked: the serving database
  can read no other file, install or load no extension, and keeps its memory and thread limits.
- Values are held to plausible ranges (contract.py): no timestamp before 1970 or infinite, no
  amount or quantity that a metric could overflow on; money is exact to four decimals.
- CSV is read with a fixed dialect (RFC 4180 quotes; the delimiter of the header line), every
  column as text. A malformed row (too many or too few fields, bad quoting, bytes that are not
  text in the file's encoding, a row longer than DuckDB's maximum) is a counted rejected row;
  the rows around it load. Where a problem would lose rows silently (a quote that never
  closes swallows the rest of the file) the file is refused instead, with the row named.

The package, by job (each file one):
- `load.py`    the connection with the server's limits, `load_source` from start to end;
- `locate.py`  finding the tables of a folder or a .duckdb file;
- `read.py`    reading one file into positional columns (Parquet, .duckdb table, CSV dialects);
- `table.py`   one table: columns matched to the contract, read once, checked, kept clean
  (every table read and counted first, then written clean once the dictionaries are built);
- `rules.py`   the contract's rules for one table as SQL, rejected rows counted;
- `keys.py`    how the clean tables store ids (integer keys) and short labels (ENUMs);
- `across.py`  checks across tables (experiments, target policies, traffic shares);
- `report.py`  what a load gives back (Source, with its DuckDB connection).

What the DuckDB loader shares with the Spark loader (`engine/spark/validate.py`) lives, once,
outside this package and free of DuckDB: `engine/loading.py` (the report types TableReport,
Problem and SourceError, the CSV header and dialect, the mapping of a file's columns to the
contract's, finding a folder's table files, the words of the report).
"""
from __future__ import annotations

from dashboard.engine.loading import EXPORT_INFO, FILE_SUFFIXES, ROW, Problem, SourceError, TableReport
from dashboard.engine.source.load import load_source, new_connection
from dashboard.engine.source.report import Source

__all__ = ["EXPORT_INFO", "FILE_SUFFIXES", "ROW", "Problem", "Source", "SourceError", "TableReport",
           "load_source", "new_connection"]
