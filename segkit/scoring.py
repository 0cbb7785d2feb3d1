"""``segkit score``: assign the customers in a file to the latest build's segments.

The file holds either feature rows (``customer_id`` plus the model's feature
columns) or raw transactions mapped like ``[transactions]`` in the config. Raw
transactions go through the same SQL models as a build, up to the raw
features; from there the **build's** reference values apply: its imputation
values and caps (``features.numeric_bounds``), its categorical levels (the
SQL of ``features.customer_features`` the build ran), its bin edges and
centroids, and its as-of date unless the file's data is newer. Assignment is
the one SQL rule (``sql/macros/assign.sql``), run in DuckDB over the input,
the rule ``segments.live_segments`` uses; with
``model="champion"`` the MLflow model registered under the alias champion
gives the segment instead.

Every customer in the file gets a row in the output: a customer that cannot be
scored has no segment and an ``unscored_reason``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
from pathlib import Path

import duckdb
import polars as pl

from segkit import project, warehouse
from segkit.config import Config
from segkit.errors import InputError
from segkit.warehouse import queries

@dataclasses.dataclass
class _Build:
    run_id: str
    features: list[str]
    edges: pl.DataFrame
    centroids: pl.DataFrame
    bounds: pl.DataFrame  # the build's one-row features.numeric_bounds
    features_sql: str | None  # the SQL of features.customer_features the build ran
    as_of: dt.date | None  # the day the build measured recency to


@dataclasses.dataclass
class _AsOf:
    """The day a file's recency is measured to, and why that day."""

    date: dt.date | None  # None for feature rows
    rule: str | None  # "given", "build" (the build's as-of date) or "file" (its last purchase day)
    file_last_day: dt.date | None  # the file's last usable purchase day (None when given)


def _latest_build(cfg: Config) -> _Build:
    if not cfg.warehouse.exists():
        raise InputError(f"no warehouse at {cfg.warehouse}; run `python -m segkit build` first.")
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        try:
            rows = queries.rows(con, "score.latest_build")
        except duckdb.Error:
            rows = []
        if not rows:
            raise InputError(f"{cfg.warehouse} has no successful build to score with.")
        run_id, features = rows[0]
        edges = queries.frame(con, "score.bin_edges")
        centroids = queries.frame(con, "score.centroids")
        try:
            bounds = queries.frame(con, "score.numeric_bounds")
        except duckdb.Error:
            bounds = pl.DataFrame()
        sql = queries.rows(con, "score.features_sql", [run_id])
        # The build's row of meta.runs: its as-of date.
        as_of = queries.frame(con, "report.run", [run_id])["as_of_date"]
    finally:
        con.close()
    return _Build(run_id, features.split(","), edges, centroids, bounds,
                  sql[0][0] if sql else None, as_of[0] if len(as_of) else None)


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"--input {path} does not exist.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000,
                           schema_overrides={"customer_id": pl.String})
    except Exception as exc:  # polars raises many types for unreadable files
        raise InputError(f"cannot read --input {path}: {exc}") from None


def _features_from_transactions(cfg: Config, path: Path | None, build: _Build,
                                as_of: str | None) -> tuple[pl.DataFrame, pl.DataFrame, _AsOf]:
    """Feature rows of the file's customers with the build's reference values.

    ``path`` None: the configured ``[transactions]`` source, read through its
    kind (:mod:`segkit.sources`), today's rows. Returns the features, the
    customers that could not be scored with their reason, and the as-of date
    used (see :func:`_settle_as_of`).
    """
    if cfg.transactions is None:
        raise InputError(f"{path or 'the config'} has no feature columns and the config has no [transactions] "
                         "mapping to read it as raw transactions.")
    if build.features_sql is None:
        raise InputError(f"the latest build in {cfg.warehouse} predates the stored SQL of its "
                         "features; run `python -m segkit build` once, then score again.")
    scoped = cfg.replace(as_of=as_of)
    if path is not None:  # the file, mapped like [transactions]; else the source itself
        scoped = scoped.replace(transactions=dataclasses.replace(
            cfg.transactions, path=str(path), table=None, attach=None, sql=None,
            connection=None, query=None))
    # A folder of its own: two scores at once must not delete each other's spill
    # files (and a build only removes folders named like run ids).
    root = cfg.warehouse.parent / ".tmp"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="score-", dir=root))
    con = warehouse.connect_work(cfg.duckdb, tmp)
    try:
        as_of_used = _create_features(con, scoped, build)
        frame = queries.frame(con, "score.features")
        dropped = queries.frame(con, "score.unscored")
    except duckdb.Error as exc:
        what = path if path is not None else "the [transactions] source"
        raise InputError(f"cannot score {what}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return frame, dropped, as_of_used


def _create_features(con, scoped: Config, build: _Build) -> _AsOf:
    """Run the SQL models up to features.customer_features with the build's reference
    values; the as-of date they measured to."""
    from segkit import features, sources

    opened = sources.open_sources(con, scoped)
    context = features.render_context(con, scoped, opened)
    # The rows themselves where the warehouse's views read a stand-in (PostgreSQL, ...).
    context.update({name: {**context[name], "source": o.read} for name, o in opened.items()})
    models, _ = features.project_models(context, layers=("staging", "cleaning", "features"))
    as_of = None
    for model in models:
        if model.published == "run_table":
            continue  # the build's: bounds, levels and quarantine are not recomputed
        con.execute(project.create_sql(model.name, project.render(model, context),
                                       materialize=model.materialized == "table"))
        if model.name == features.AS_OF:  # a table: every later model reads its one row
            as_of = _settle_as_of(con, model.name, scoped.as_of is not None, build.as_of)
    con.register("_build_bounds", build.bounds)
    queries.run(con, "score.build_bounds")
    # The build's own SQL: its levels, imputation and capping rule.
    con.execute(project.create_sql("features.customer_features", build.features_sql))
    return as_of


def _settle_as_of(con, table: str, given: bool, build_as_of: dt.date | None) -> _AsOf:
    """The day recency is measured to: the one given, else the later of the build's
    as-of date and the file's last usable purchase day.

    A file holding all the lines of some of the build's customers (none after
    the build's as-of date) then gives exactly their build labels: measured to
    the file's own last day, a customer who stopped buying months before the
    build would look recent. Newer data is measured to its own last day.
    ``table`` (``cleaning.as_of``) is rewritten before any model that reads it exists.
    """
    (file_day,), = queries.rows(con, "score.as_of")
    if given:
        return _AsOf(file_day, "given", None)
    if build_as_of is None or file_day > build_as_of:
        return _AsOf(file_day, "file", file_day)
    con.execute(f"create or replace table {table} as "
                "select cast(? as date) as as_of_date", [build_as_of])
    return _AsOf(build_as_of, "build", file_day)


def assign(frame: pl.DataFrame, edges: pl.DataFrame, centroids: pl.DataFrame,
           features: list[str]) -> pl.DataFrame:
    """Segment of each row by the one SQL assignment rule, run in DuckDB.

    Returns ``customer_id, segment_id, segment_name, distance_to_centroid``.
    """
    from segkit.features import segment_context

    sql = project.render_string(queries.sql("score.assign"), segment_context(features))
    con = warehouse.connect_memory()
    try:
        con.register("scored_features", frame.select("customer_id", *features))
        con.register("build_edges", edges)
        con.register("build_centroids", centroids)
        return con.sql(sql).pl()
    finally:
        con.close()


def _missing_values(frame: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """Rows with a null or non-finite feature: no bin to put them in."""
    bad = pl.any_horizontal([pl.col(f).cast(pl.Float64).is_null()
                             | ~pl.col(f).cast(pl.Float64).is_finite() for f in features])
    first = pl.coalesce([pl.when(pl.col(f).cast(pl.Float64).is_null()
                                 | ~pl.col(f).cast(pl.Float64).is_finite())
                         .then(pl.lit(f"no value for {f}")) for f in features])
    return (frame.filter(bad).select("customer_id", first.alias("unscored_reason")))


def score(cfg: Config, input: Path | None, output: Path, *, model: str = "centroids",
          as_of: str | None = None) -> dict:
    """Score ``input`` and write one row per customer to ``output``.

    Columns: ``customer_id, segment_id, segment_name, run_id, unscored_reason``
    (the reason is null for scored customers; their segment is null otherwise).

    Parameters
    ----------
    cfg : Config
    input : Path or None
        CSV or Parquet. None: today's rows of the configured ``[transactions]``
        source, read through its kind (a PostgreSQL table or query, another
        DuckDB file, a ``sql`` query, ...): what ``segments.live_segments`` gives
        for sources the warehouse's clients can read.
    output : Path
        CSV or Parquet.
    model : {"centroids", "champion"}, default="centroids"
        The build's bin edges and centroids in SQL, or the MLflow champion model.
    as_of : str, default=None
        ``YYYY-MM-DD`` to measure recency to, for raw transactions. Default: the
        later of the build's as-of date and the file's last usable purchase day
        (returned as ``as_of``), so the build's own customers get their build
        labels and newer data is measured to its own last day.

    Returns
    -------
    dict
        ``customers``, ``scored``, ``unscored``, ``run_id``, ``output``; for raw
        transactions ``as_of`` (the date used), ``as_of_rule`` (``"given"``,
        ``"build"``: the build's as-of date, or ``"file"``: the file's last
        purchase day) and ``file_last_day`` (None when given). ``as_of`` is None
        for feature rows.

    Raises
    ------
    InputError
        No build to score with, an unreadable input, or no usable rows.
    """
    build = _latest_build(cfg)
    features = build.features
    frame = _read(input) if input is not None else pl.DataFrame()
    as_of_used = _AsOf(None, None, None)
    if "customer_id" in frame.columns and set(features) <= set(frame.columns):
        frame = frame.with_columns(pl.col("customer_id").cast(pl.String))
        unscored = _missing_values(frame, features)
        frame = frame.join(unscored, on="customer_id", how="anti")
    else:
        frame, unscored, as_of_used = _features_from_transactions(cfg, input, build, as_of)
    if frame.height + unscored.height == 0:
        raise InputError(f"{f'--input {input}' if input else 'the source'} has no rows to "
                         "score.")
    scored = _assigned(cfg, frame, build, model)
    result = (pl.concat([
        scored.with_columns(pl.lit(None, pl.String).alias("unscored_reason")),
        unscored.select("customer_id", pl.lit(None, pl.Int32).alias("segment_id"),
                        pl.lit(None, pl.String).alias("segment_name"), "unscored_reason"),
    ]).with_columns(pl.lit(build.run_id).alias("run_id"))
        .select("customer_id", "segment_id", "segment_name", "run_id", "unscored_reason")
        .sort("customer_id"))
    _write(result, output)
    return {"customers": result.height, "scored": scored.height, "unscored": unscored.height,
            "run_id": build.run_id, "output": str(output), "as_of": as_of_used.date,
            "as_of_rule": as_of_used.rule, "file_last_day": as_of_used.file_last_day}


def _assigned(cfg: Config, frame: pl.DataFrame, build: _Build, model: str) -> pl.DataFrame:
    """``customer_id, segment_id, segment_name`` of each scorable row, by ``model``."""
    if model == "champion":
        from segkit import tracking

        predicted = tracking.load_champion(cfg).predict(
            frame.select(build.features).to_pandas())
        return frame.select("customer_id").with_columns(
            pl.Series("segment_id", predicted["segment_id"].to_numpy()).cast(pl.Int32),
            pl.Series("segment_name", predicted["segment_name"].to_numpy(), dtype=pl.String))
    return assign(frame, build.edges, build.centroids, build.features).select(
        "customer_id", pl.col("segment_id").cast(pl.Int32), "segment_name")


def _write(result: pl.DataFrame, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in (".parquet", ".pq"):
        result.write_parquet(output)
    else:
        result.write_csv(output)
