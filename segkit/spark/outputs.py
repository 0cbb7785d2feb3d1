"""The Spark engine's per-customer tables: written new, swapped in with the warehouse.

Each build writes its tables (catalog tables, or Parquet under ``output_path``)
beside the previous build's, and :meth:`Outputs.swap` points the names at them
just before the DuckDB warehouse is swapped in; a failed build removes what it
wrote (:meth:`Outputs.discard`). The history and the changes carry each
customer's previous segment and ``segment_since`` (:meth:`Outputs.looking_back`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

from segkit.config import Config
from segkit.spark import model as smodel

# Per-customer outputs: name -> the Spark view whose rows it holds (plus run_id).
OUTPUTS = {
    "customer_segments": smodel.ASSIGNED,
    "customer_features": smodel.FEATURES,
    "quarantine": "cleaning__quarantine",
}
HISTORY = "segment_history"  # every build's customer_segments, keyed by run_id
# every build's customers who changed segment (never trimmed), keyed by run_id
CHANGES = "segment_changes"


def _tag(run_id: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", run_id.lower())


class Outputs:
    """Per-customer tables written by Spark, new ones first, swapped in at the end.

    Catalog: each build writes ``<database>.<table>_<run>`` tables; the swap
    points the view ``<database>.<table>`` at them and drops the build's
    predecessors. Parquet (``output_path``): each table is written to a hidden
    folder, then renamed into place.
    """

    def __init__(self, spark, cfg: Config, run_id: str, *, as_of=None,
                 scores: str | None = None):
        self.spark, self.engine, self.run_id = spark, cfg.engine, run_id
        self.warehouse, self.duckdb = cfg.warehouse, cfg.duckdb  # its builds' as-of dates
        self.as_of, self.scores = as_of, scores
        self.tag = _tag(run_id)
        self.written: list[str] = []
        # `catalog`.`database` (Unity Catalog) or `database`
        self.db = ".".join(f"`{part}`" for part in cfg.engine.database.split("."))

    # -- write ---------------------------------------------------------------
    def write(self) -> None:
        spark, run = self.spark, self.run_id.replace("'", "''")
        frames = {name: spark.sql(f"select *, '{run}' as run_id from {view}")
                  for name, view in OUTPUTS.items()}
        previous = self._previous_history()
        customers, changes = self.looking_back(frames["customer_segments"], previous)
        # Written twice (the table and the history): computed once, with the RFM scores'
        # windows over every customer, instead of once per write.
        frames["customer_segments"] = history = customers.localCheckpoint(eager=True)
        if previous is not None:
            history = previous.unionByName(history, allowMissingColumns=True)
        frames[HISTORY] = history
        earlier_changes = self._previous_history(CHANGES)
        frames[CHANGES] = (changes if earlier_changes is None
                           else earlier_changes.unionByName(changes, allowMissingColumns=True))
        for name, frame in frames.items():
            self._write_one(name, frame)

    def looking_back(self, customers, history):
        """This build's customer rows with their previous segment, ``segment_since`` and
        scores, and the customers who changed segment: the DuckDB engine's two queries
        (``sql/build/customer_segment_rows.sql``, ``segment_change_rows.sql``), in Spark.

        The previous build is the newest in the Spark history (run ids sort as the
        builds ran). A history written before ``segment_since`` was kept gets it
        rebuilt for that build's customers by the DuckDB warehouse's query
        (:mod:`segkit.spark.history`); from then on every build carries it.
        """
        from segkit.spark import history as since
        from segkit.warehouse import sql_dir

        spark = self.spark
        previous_run = None
        if history is not None:
            previous_run = history.agg({"run_id": "max"}).collect()[0][0]
        if previous_run is not None and "segment_since" not in history.columns:
            previous = since.backfilled_previous(
                spark, history, previous_run, since.run_dates(self.warehouse, self.duckdb))
        elif previous_run is not None:
            history.createOrReplaceTempView("segkit_history")
            previous = spark.sql(
                "select customer_id, segment_id, segment_name, segment_since from "
                "segkit_history where run_id = '" + previous_run.replace("'", "''") + "'")
        else:
            previous = spark.sql("select cast(null as string) as customer_id, cast(null as int) "
                                 "as segment_id, cast(null as string) as segment_name, "
                                 "cast(null as date) as segment_since where false")
        scores = (spark.table(self.scores) if self.scores else spark.sql(
            "select cast(null as string) as customer_id, cast(null as int) as r_score, "
            "cast(null as int) as f_score, cast(null as int) as m_score, "
            "cast(null as string) as rfm_group where false"))
        facts = spark.createDataFrame([(self.run_id, previous_run, self.as_of)],
                                      "run_id string, previous_run_id string, as_of_date date")
        for name, frame in {"build_segments": customers, "previous_segments": previous,
                            "build_scores": scores, "build_facts": facts}.items():
            frame.createOrReplaceTempView(name)
        read = lambda path: (sql_dir() / path).read_text(encoding="utf-8")  # noqa: E731
        return (spark.sql(read("build/customer_segment_rows.sql")),
                spark.sql(read("build/segment_change_rows.sql")))

    def _previous_history(self, table: str = HISTORY):
        """The earlier builds' rows of ``table`` (the history by default), or None before
        the first build that wrote it.

        Asked for explicitly: on Spark Connect reading a table or a folder is
        lazy, so a missing one is found only when the union is written, and a
        ``try`` around the read catches nothing.
        """
        if self.engine.output_path:
            path = self._path(table)
            if "://" not in path:
                return self.spark.read.parquet(path) if Path(path).exists() else None
            from pyspark.errors import AnalysisException

            try:
                frame = self.spark.read.parquet(path)
                frame.columns  # noqa: B018 - the schema: makes Spark look for the folder now
            except AnalysisException as exc:
                if exc.getCondition() == "PATH_NOT_FOUND":
                    return None
                raise
            return frame
        if not self.spark.catalog.tableExists(f"{self.engine.database}.{table}"):
            return None
        return self.spark.table(f"{self.db}.`{table}`")

    def _path(self, name: str) -> str:
        return f"{self.engine.output_path.rstrip('/')}/{name}"

    def _write_one(self, name: str, frame) -> None:
        if self.engine.output_path:
            target = self._path(f".next-{self.tag}/{name}")
            frame.write.mode("overwrite").parquet(target)
        else:
            self.spark.sql(f"create database if not exists {self.db}")
            frame.write.format("parquet").mode("overwrite").saveAsTable(
                f"{self.db}.`{name}_{self.tag}`")
        self.written.append(name)

    # -- swap ----------------------------------------------------------------
    def swap(self) -> None:
        if self.engine.output_path:
            base = self.engine.output_path.rstrip("/")
            if "://" in base:  # a cluster file system: the folders are replaced in place
                for name in self.written:
                    self.spark.read.parquet(self._path(f".next-{self.tag}/{name}")) \
                        .write.mode("overwrite").parquet(self._path(name))
                return
            old = Path(base) / f".old-{self.tag}"
            for name in self.written:
                final = Path(base) / name
                if final.exists():
                    old.mkdir(parents=True, exist_ok=True)
                    final.rename(old / name)
                (Path(base) / f".next-{self.tag}" / name).rename(final)
            shutil.rmtree(Path(base) / f".next-{self.tag}", ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            return
        db = self.db
        for name in self.written:
            self.spark.sql(f"create or replace view {db}.`{name}` as "
                           f"select * from {db}.`{name}_{self.tag}`")
            for row in self.spark.sql(f"show tables in {db} like '{name}_*'").collect():
                table = row["tableName"]
                if table != f"{name}_{self.tag}" and re.fullmatch(
                        rf"{name}_\d{{8}}t\d{{6}}z_[0-9a-f]+", table):
                    self.spark.sql(f"drop table if exists {db}.`{table}`")

    def discard(self) -> None:
        """A failed build: remove what it wrote; the previous outputs stay as they were."""
        with contextlib.suppress(Exception):
            if self.engine.output_path and "://" not in self.engine.output_path:
                shutil.rmtree(Path(self.engine.output_path) / f".next-{self.tag}",
                              ignore_errors=True)
            elif not self.engine.output_path:
                for name in self.written:
                    self.spark.sql(f"drop table if exists {self.db}.`{name}_{self.tag}`")

    def where(self) -> str:
        if self.engine.output_path:
            return f"Parquet under {self.engine.output_path}"
        return f"Spark catalog database {self.engine.database}"
