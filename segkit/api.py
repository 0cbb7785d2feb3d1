"""The public functions behind the CLI commands, one per command."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl

from segkit import exports
from segkit import warehouse as wh
from segkit.config import Config, check_engine_flag, check_model_flags, load_config, write_template
from segkit.errors import ConfigError, InputError
from segkit.warehouse import queries


def _config(config: str | Path | Config | None, warehouse: str | Path | None) -> Config:
    cfg = config if isinstance(config, Config) else load_config(config)
    if warehouse is not None:
        cfg = cfg.replace(warehouse=Path(warehouse).expanduser().resolve())
    return cfg


def build(config: str | Path | Config | None = None, *, warehouse: str | Path | None = None,
          as_of: str | None = None, k: int | None = None, seed: int | None = None,
          no_map: bool = False, engine: str | None = None, backtest_days: int | None = None,
          progress=None):
    """Build segments end to end and publish them to the warehouse.

    Parameters
    ----------
    config : str, Path or Config, default=None
        ``segkit.toml``; ``None`` looks in the working directory, then uses the
        bundled CDNOW demo.
    warehouse : str or Path, default=None
        Overrides the config's warehouse file.
    as_of : str, default=None
        ``YYYY-MM-DD``; recency is measured to this day. Default: the last
        purchase day in the data (ignoring future dates).
    k : int, default=None
        Use exactly this many segments instead of choosing k.
    seed : int, default=None
        Overrides ``[model] seed``.
    no_map : bool, default=False
        Skip the t-SNE map.
    engine : {"duckdb", "spark"}, default=None
        Overrides ``[engine] kind``; ``"spark"`` needs ``pip install 'segkit[spark]'``.
    backtest_days : int, default=None
        Overrides ``[backtest] horizon_days``; ``0`` turns the backtest off.
    progress : segkit.pipeline.Progress, default=None

    Returns
    -------
    segkit.pipeline.BuildResult

    Examples
    --------
    >>> import segkit
    >>> result = segkit.build(k=4, no_map=True)  # doctest: +SKIP
    >>> result.segment_names  # doctest: +SKIP
    """
    from segkit import pipeline

    cfg = _config(config, warehouse)
    if as_of is not None:
        cfg = cfg.replace(as_of=as_of)
    check_model_flags(k=k, seed=seed, as_of=as_of, backtest_days=backtest_days)
    check_engine_flag(engine)
    if backtest_days is not None:
        cfg = cfg.replace(backtest=dataclasses.replace(cfg.backtest, horizon_days=backtest_days))
    if engine is not None:
        cfg = cfg.replace(engine=dataclasses.replace(cfg.engine, kind=engine))
    model_changes = {}
    if k is not None:
        model_changes["k"] = k
    if seed is not None:
        model_changes["seed"] = seed
    if no_map:
        model_changes["map"] = False
    if model_changes:
        cfg = cfg.replace_model(**model_changes)
    exports.check(cfg)  # a password in [export] postgres stops the build before it starts
    with wh.said_clearly(cfg.warehouse):
        result = pipeline.build(cfg, progress=progress)
    # Published: an export that fails now is a warning naming `segkit export RUN_ID`.
    warning = exports.after_build(cfg, result.run_id, progress=progress)
    if warning:
        result.warnings.append(warning)
    return result


def export(run_id: str | None = None, *, config: str | Path | Config | None = None,
           warehouse: str | Path | None = None, progress=None):
    """Write a build's segments to every ``[export]`` destination, from the warehouse alone.

    A build does this itself after publishing; this retries a failed export or
    exports a past build again. The tables of :data:`segkit.exports.EXPORTED`
    the warehouse holds (``customer_segments``, ``segment_profiles``,
    ``segment_changes``), with the rows of that one build: PostgreSQL tables
    in ``[export] schema`` whose rows are replaced in one transaction, and one
    Parquet or CSV file per table, renamed into place.

    Parameters
    ----------
    run_id : str, default=None
        A build from ``segkit runs``; ``None`` means the latest successful one.
        Per-customer rows are kept for the last ``[duckdb] history_builds`` builds.
    config : str, Path or Config, default=None
    warehouse : str or Path, default=None
    progress : segkit.pipeline.Progress, default=None

    Returns
    -------
    segkit.exports.Exported
        ``run_id``, ``rows`` per table, ``destinations`` (passwords masked), ``seconds``.

    Raises
    ------
    ConfigError
        No ``[export]`` destination, or a password in the PostgreSQL URL.
    InputError
        No such successful build, its customers no longer kept, or PostgreSQL
        down or refusing the write (nothing changed there).
    WarehouseError
        A file cannot be written, or the warehouse is damaged.

    Examples
    --------
    >>> import segkit
    >>> segkit.export().destinations  # doctest: +SKIP
    ['PostgreSQL postgresql://crm@db:5432/crm schema segkit', '/data/exports']
    """
    cfg = _config(config, warehouse)
    with wh.said_clearly(cfg.warehouse):
        return exports.export(cfg, run_id, progress=progress)


def init(path: str | Path = "segkit.toml", *, force: bool = False, source: str | None = None,
         table: str | None = None, query: str | None = None) -> Path:
    """Write a commented ``segkit.toml``; never overwrite unless ``force``.

    Without ``source``, the template with every key. With ``source`` (a CSV or
    Parquet file or glob, a DuckDB ``select`` query, or a PostgreSQL URL with
    ``table`` or ``query``), its columns are read and the file holds the
    mapping they suggest, a comment on each guess and the columns not used
    (:func:`segkit.sources.guess.guess_mapping`).
    """
    if source is None:
        return write_template(path, force=force)
    from segkit.config.from_source import write_guessed

    return write_guessed(Path(path), source, table=table, query=query, force=force)


def generate(out: str | Path, *, transactions: int = 100_000, seed: int = 0,
             format: str = "parquet", progress=None) -> dict:
    """Write seeded synthetic transactions and customers with realistic dirt.

    See :func:`segkit.synthetic.generate`.
    """
    from segkit import synthetic

    if transactions < 1:
        raise ConfigError(f"--transactions {transactions}: need at least 1.")
    if not 0 <= seed <= 2**32 - 1:
        raise ConfigError(f"--seed {seed} is out of range; use an integer from 0 to "
                          "4294967295.")
    if format not in ("parquet", "csv"):
        raise ConfigError(f"--format {format!r}: use parquet or csv.")
    return synthetic.generate(out, transactions=transactions, seed=seed, format=format,
                        progress=progress)


def runs(config: str | Path | Config | None = None, *,
         warehouse: str | Path | None = None, limit: int = 20) -> pl.DataFrame:
    """The latest builds, newest first: ``meta.runs`` plus builds not yet published.

    A build records itself as ``running`` beside the warehouse; one whose
    process is gone shows as ``interrupted``, and a failed one as ``failed``
    (both move into ``meta.runs`` with the next successful build).
    """
    if limit < 1:
        raise ConfigError(f"--limit {limit} is out of range; use an integer >= 1.")
    cfg = _config(config, warehouse)
    with wh.said_clearly(cfg.warehouse):
        return _runs(cfg, limit)


def _runs(cfg: Config, limit: int) -> pl.DataFrame:
    pending = wh.pending_runs(cfg.warehouse)
    if not cfg.warehouse.exists() and not pending:
        raise InputError(f"no warehouse at {cfg.warehouse} yet; run `python -m segkit build`.")
    con = (wh.connect(cfg.warehouse, cfg.duckdb, read_only=True) if cfg.warehouse.exists()
           else wh.connect_memory())
    try:
        if not cfg.warehouse.exists():
            wh.ensure_tables(con)  # an empty registry, for its columns
        recorded = queries.frame(con, "runs.listing")
        unrecorded = [r for r in pending if r["run_id"] not in set(recorded["run_id"])]
        journal = pl.DataFrame(
            {"run_id": [r["run_id"] for r in unrecorded],
             "started_at": [_timestamp(r.get("started_at")) for r in unrecorded],
             "status": [r.get("status") for r in unrecorded],
             "error": [r.get("error") for r in unrecorded]},
            schema={"run_id": pl.String, "started_at": recorded.schema["started_at"],
                    "status": pl.String, "error": pl.String})
        return (pl.concat([recorded, journal], how="diagonal_relaxed")
                .select(recorded.columns)
                .sort(["started_at", "run_id"], descending=True, nulls_last=True)
                .head(limit))
    finally:
        con.close()


def _timestamp(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def score(input: str | Path, output: str | Path, *, config: str | Path | Config | None = None,
          warehouse: str | Path | None = None, model: str = "centroids",
          as_of: str | None = None) -> dict:
    """Assign segments to the customers in a file with the latest build's reference values.

    See :func:`segkit.scoring.score`. ``as_of`` (``YYYY-MM-DD``) measures recency
    of raw transactions to that day; default: the later of the build's as-of date
    and the file's last purchase day (the build's own customers get their build
    labels; newer data is measured to its own last day).
    """
    from segkit import scoring

    cfg = _config(config, warehouse)
    with wh.said_clearly(cfg.warehouse):
        return scoring.score(cfg, Path(input), Path(output), model=model, as_of=as_of)


def report(run_id: str | None = None, *, config: str | Path | Config | None = None,
           warehouse: str | Path | None = None) -> Path:
    """Render (again) the HTML report of a build from the warehouse alone.

    ``run_id=None`` means the latest successful build. Returns the report's path.
    """
    from segkit.reporting import render_report

    cfg = _config(config, warehouse)
    with wh.said_clearly(cfg.warehouse):
        return render_report(cfg, run_id)


def restore(config: str | Path | Config | None = None, *,
            warehouse: str | Path | None = None) -> dict:
    """Put the previous generation of the warehouse back as the live file.

    Each build keeps the warehouse it replaces beside the live file as
    ``<warehouse>.previous``. This swaps it back, under the build lock and with
    one atomic rename (readers get the old file or the restored one); the file
    it replaces is kept as the previous generation in turn, so restoring twice
    undoes the first. Use it when the live file is damaged (a full disk, a bad
    copy) or to undo the last build. On the Spark engine only the DuckDB
    warehouse is restored, not the per-customer tables Spark wrote.

    Returns
    -------
    dict
        ``run_id``, ``finished_at``, ``customers`` and ``k`` of the restored
        latest build; ``warehouse``; ``kept_as`` (where the replaced file is
        now); ``replaced_run_id`` (its latest build, when readable),
        ``replaced_damaged``; ``carried_runs`` (runs only the replaced file
        recorded, now listed from the journal); ``spark_outputs`` (where the
        Spark engine's tables stay unrestored, or None).

    Raises
    ------
    InputError
        No previous generation is kept.
    WarehouseError
        The previous generation is damaged too (nothing changes), or the disk is full.
    WarehouseBusyError
        A build is running, or a session holds the warehouse for writing.

    Examples
    --------
    >>> import segkit
    >>> segkit.restore()["run_id"]  # doctest: +SKIP
    '20261127T101500Z-ab12cd'
    """
    cfg = _config(config, warehouse)
    with wh.said_clearly(cfg.warehouse):
        done = wh.restore(cfg.warehouse, cfg.duckdb)
    spark = None
    if cfg.engine.kind == "spark":
        spark = (f"Parquet under {cfg.engine.output_path}" if cfg.engine.output_path
                 else f"Spark catalog database {cfg.engine.database}")
    return {**dataclasses.asdict(done), "spark_outputs": spark}


def _compiled(cfg: Config, dialect: str):
    """The project rendered for ``cfg`` in a scratch DuckDB (sources opened there)."""
    import shutil
    import tempfile

    from segkit import features

    tmp = Path(tempfile.mkdtemp(prefix="segkit-sql-"))
    con = wh.connect_work(cfg.duckdb, tmp)
    try:
        return features.compile_project(con, cfg, dialect=dialect)
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def sql_list(config: str | Path | Config | None = None, *,
             warehouse: str | Path | None = None) -> pl.DataFrame:
    """The SQL project's models for the current config, upstream first.

    One row per model: its materialization in a build, how the warehouse holds
    it (``published``), its grain, the models it reads, the fingerprint of its
    rendered SQL and the version the warehouse has recorded for that
    fingerprint (null when no build ran this SQL yet). Like ``dbt ls``.

    Examples
    --------
    >>> import segkit
    >>> segkit.sql_list().select("model", "materialized", "version")  # doctest: +SKIP
    """
    from segkit import project

    cfg = _config(config, warehouse)
    models, rendered = _compiled(cfg, "duckdb")
    known: dict[tuple[str, str], int] = {}
    if cfg.warehouse.exists():
        con = wh.connect(cfg.warehouse, cfg.duckdb, read_only=True)
        try:
            known = {(n, h): v for n, v, h in queries.rows(con, "runs.view_versions")}
        except Exception:  # a warehouse without a build yet
            known = {}
        finally:
            con.close()
    names = {m.name for m in models}
    rows = []
    for m in models:
        sql = rendered[m.name]
        fp = project.fingerprint(sql)
        deps = sorted({project.base_name(d) for d in project.dependencies(sql)} & names - {m.name})
        rows.append({"model": m.name, "materialized": m.materialized, "published": m.published,
                     "grain": m.grain, "depends_on": ", ".join(deps), "fingerprint": fp,
                     "version": known.get((m.name, fp))})
    return pl.DataFrame(rows, schema={"model": pl.String, "materialized": pl.String,
                                      "published": pl.String, "grain": pl.String,
                                      "depends_on": pl.String, "fingerprint": pl.String,
                                      "version": pl.Int64})


def sql_render(model: str, *, config: str | Path | Config | None = None,
               warehouse: str | Path | None = None, dialect: str = "duckdb") -> str:
    """The exact SQL of one model for the current config, like ``dbt compile``.

    The result is one ``select`` that runs as it is in a DuckDB session on the
    warehouse (``dialect="spark"``: spelled for Spark SQL).

    Raises
    ------
    InputError
        No model of that name is enabled for this config.

    Examples
    --------
    >>> import segkit
    >>> print(segkit.sql_render("features.customer_rfm"))  # doctest: +SKIP
    """
    import difflib

    from segkit import project

    cfg = _config(config, warehouse)
    if dialect not in project.DIALECTS:
        raise ConfigError(f"--dialect {dialect!r}: use one of {', '.join(project.DIALECTS)}.")
    models, rendered = _compiled(cfg, dialect)
    if model not in rendered:
        close = difflib.get_close_matches(model, list(rendered), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise InputError(f"no model {model!r} for this config{hint}. List them with "
                         "`python -m segkit sql list`.")
    return rendered[model]
