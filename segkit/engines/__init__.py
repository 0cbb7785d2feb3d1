"""The engines a build runs on: one interface, DuckDB and Spark implement it.

- ``base``: :class:`Engine`, what a build asks of an engine, and the small
  types it passes (:class:`ProfileQuery`);
- ``duckdb``: :class:`DuckDBEngine`, the default: a private in-memory DuckDB,
  the customers as a Polars frame.

The Spark engine is :class:`segkit.spark.build.SparkEngine` (beside the
rest of the code that imports pyspark). The build itself, one sequence of
steps for every engine, is :mod:`segkit.pipeline.sequence`.
"""

from __future__ import annotations

from segkit.engines.base import Engine, ProfileQuery, sql_detail
from segkit.engines.duckdb import DuckDBEngine

__all__ = ["Engine", "DuckDBEngine", "ProfileQuery", "sql_detail"]
