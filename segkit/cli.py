"""The ``segkit`` command: parse flags, show progress, map errors to exit codes.

Each command is a thin shell over the function of the same name in
:mod:`segkit.api`; user errors print one paragraph and exit non-zero, anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segkit import __version__, api
from segkit.errors import SegkitError

# soft_wrap: long paths and ids stay on one line, whole, when output is captured.
console = Console(stderr=True, highlight=False, soft_wrap=True)


class TerminalProgress:
    """Draws build stages on stderr: a spinner while running, a line when done."""

    def __init__(self) -> None:
        self._status = None

    def start(self, stage: str, description: str) -> None:
        self._status = console.status(f"{description}...")
        self._status.start()

    def done(self, stage: str, seconds: float, detail: str = "") -> None:
        if self._status:
            self._status.stop()
        extra = f"  [dim]{escape(detail)}[/dim]" if detail else ""
        console.print(f"[green]✓[/green] {stage:<11} {seconds:7.2f} s{extra}")

    def warn(self, message: str) -> None:
        # Messages quote config sections ("[transactions]") and data values: not markup.
        console.print(f"[yellow]![/yellow] {escape(message)}")


def _add_common(parser: argparse.ArgumentParser, *, warehouse: bool = True) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="segkit.toml to use (default: ./segkit.toml, else the bundled demo)")
    if warehouse:
        parser.add_argument("--warehouse", metavar="FILE",
                            help="DuckDB warehouse file (overrides the config)")


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="segkit", formatter_class=formatter,
        description="Customer segmentation that lives in SQL (DuckDB + scikit-learn + MLflow).",
        epilog="examples:\n  python -m segkit build            # the bundled CDNOW demo\n"
               "  python -m segkit init             # write segkit.toml for your data\n"
               "  python -m segkit runs\n\nRun `segkit COMMAND --help` for a command's flags.")
    parser.add_argument("--version", action="version", version=f"segkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_build_parser, _init_parser, _generate_parser, _runs_parser,
                _score_parser, _report_parser, _restore_parser, _sql_parser, _export_parser):
        add(sub, formatter)
    return parser


def _build_parser(sub, formatter) -> None:
    """The `segkit build` parser."""
    p = sub.add_parser(
        "build", formatter_class=formatter, help="build segments and publish them",
        description="Load and clean the source, engineer features, choose k, cluster, map, "
                    "publish segment tables to the warehouse, track in MLflow and render "
                    "the HTML report.",
        epilog="examples:\n  python -m segkit build\n"
               "  python -m segkit build --config shop/segkit.toml --as-of 2024-01-01\n"
               "  python -m segkit build --k 5 --seed 1 --no-map\n"
               "  python -m segkit build --engine spark   # [engine] master/remote in segkit.toml")
    _add_common(p)
    p.add_argument("--as-of", metavar="YYYY-MM-DD",
                   help="measure recency to this day (default: last purchase day in the data)")
    p.add_argument("--k", type=int, metavar="N", help="use exactly N segments")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default: [model] seed)")
    p.add_argument("--no-map", action="store_true", help="skip the t-SNE map")
    p.add_argument("--backtest-days", type=int, metavar="N",
                   help="backtest horizon in days (default: [backtest] horizon_days, 90); "
                        "0 turns the backtest off")
    p.add_argument("--engine", choices=("duckdb", "spark"),
                   help="run on this engine (default: [engine] kind, else duckdb); "
                        "spark needs pip install 'segkit[spark]'")


def _init_parser(sub, formatter) -> None:
    """The `segkit init` parser."""
    p = sub.add_parser(
        "init", formatter_class=formatter, help="write a commented segkit.toml template",
        description="Write a commented segkit.toml template to edit for your data.",
        epilog="examples:\n  python -m segkit init && $EDITOR segkit.toml\n"
               "  python -m segkit init --source data/orders.csv\n"
               "  python -m segkit init --source postgresql://me@db/shop --table sales.orders")
    p.add_argument("path", nargs="?", default="segkit.toml", help="where to write it")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--source", metavar="FILE|URL|QUERY",
                   help="read this source's columns and write the mapping they suggest: a "
                        "CSV/Parquet file or glob, a DuckDB select, or a PostgreSQL URL")
    p.add_argument("--table", help="with a PostgreSQL --source: the table (schema.table)")
    p.add_argument("--query", help="with a PostgreSQL --source: a query PostgreSQL runs")


def _generate_parser(sub, formatter) -> None:
    """The `segkit generate` parser."""
    p = sub.add_parser(
        "generate", formatter_class=formatter, help="write synthetic data for tests/benchmarks",
        description="Write seeded synthetic transactions and customers with realistic dirt "
                    "(returns, missing ids, duplicates, absurd ages, rare categories), and a "
                    "segkit.toml that maps them.",
        epilog="example:\n  python -m segkit generate --transactions 1000000 --out data/synth\n"
               "  python -m segkit build --config data/synth/segkit.toml")
    p.add_argument("--transactions", type=int, default=100_000, metavar="N",
                   help="transaction lines to write (default: 100000)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")


def _runs_parser(sub, formatter) -> None:
    """The `segkit runs` parser."""
    p = sub.add_parser(
        "runs", formatter_class=formatter, help="list builds recorded in the warehouse",
        description="List the builds in meta.runs, newest first.",
        epilog="example:\n  python -m segkit runs --limit 5")
    _add_common(p)
    p.add_argument("--limit", type=int, default=20, metavar="N")


def _score_parser(sub, formatter) -> None:
    """The `segkit score` parser."""
    p = sub.add_parser(
        "score", formatter_class=formatter, help="assign segments to customers in a file",
        description="Assign each customer in a CSV/Parquet file to a segment of the latest "
                    "build. The file holds either feature rows (the model's feature columns "
                    "plus customer_id) or raw transactions mapped like [transactions].",
        epilog="examples:\n  python -m segkit score --input new_orders.csv --output scored.csv\n"
               "  python -m segkit score --input orders.csv --output s.parquet --as-of 2024-01-01")
    _add_common(p)
    p.add_argument("--input", required=True, metavar="FILE")
    p.add_argument("--output", required=True, metavar="FILE", help=".csv or .parquet")
    p.add_argument("--model", choices=("centroids", "champion"), default="centroids",
                   help="stored bin edges + centroids (default), or the MLflow champion model")
    p.add_argument("--as-of", metavar="YYYY-MM-DD",
                   help="raw transactions: measure recency to this day (default: the later of "
                        "the build's as-of date and the file's last purchase day)")


def _report_parser(sub, formatter) -> None:
    """The `segkit report` parser."""
    p = sub.add_parser(
        "report", formatter_class=formatter, help="render a build's HTML report again",
        description="Render the HTML report of any past build from the warehouse alone.",
        epilog="examples:\n  python -m segkit report\n  python -m segkit report 20261127T101500Z-ab12cd")
    _add_common(p)
    p.add_argument("run_id", nargs="?", help="a run id from `segkit runs` (default: latest)")


def _export_parser(sub, formatter) -> None:
    """The `segkit export` parser."""
    p = sub.add_parser(
        "export", formatter_class=formatter,
        help="write a build's segments to the [export] destinations again",
        description="Write one build's customer_segments, segment_profiles and "
                    "segment_changes (those the warehouse holds) to every destination of "
                    "[export]: PostgreSQL tables in [export] schema, their rows replaced in one "
                    "transaction (grants and views on them stay), and one Parquet or CSV file "
                    "per table, renamed into place. A build exports itself after publishing; "
                    "this retries a failed export or exports a past build, from the warehouse "
                    "alone. The PostgreSQL password comes from PGPASSWORD, ~/.pgpass or "
                    "PGSERVICE, never from segkit.toml.",
        epilog="examples:\n  python -m segkit export\n"
               "  python -m segkit export 20261127T101500Z-ab12cd --config segkit.toml")
    _add_common(p)
    p.add_argument("run_id", nargs="?",
                   help="a run id from `segkit runs` (default: the latest successful build)")


def _export(args) -> int:
    done = api.export(args.run_id, config=args.config, warehouse=args.warehouse,
                      progress=TerminalProgress())
    rows = ", ".join(f"{name.split('.')[-1]} {n:,} rows" for name, n in done.rows.items())
    console.print(f"Exported build {done.run_id} ({rows}) to "
                  f"{escape('; '.join(done.destinations))}.")
    print(done.run_id)
    return 0


def _restore_parser(sub, formatter) -> None:
    """The `segkit restore` parser."""
    p = sub.add_parser(
        "restore", formatter_class=formatter,
        help="put the previous generation of the warehouse back",
        description="Each build keeps the warehouse it replaces beside the live file as "
                    "<warehouse>.previous. This puts it back as the live warehouse, under the "
                    "build lock and with one atomic rename, and keeps the file it replaces as "
                    "the previous generation (restoring twice undoes the first). Use it when "
                    "the live file is damaged (a full disk, a bad copy) or to undo the last "
                    "build. On the Spark engine the per-customer tables Spark wrote are not "
                    "restored.",
        epilog="examples:\n  python -m segkit restore\n"
               "  python -m segkit restore --warehouse warehouse/segkit.duckdb")
    _add_common(p)


def _restore(args) -> int:
    done = api.restore(args.config, warehouse=args.warehouse)
    latest = (f"its latest build is now {done['run_id']} (finished "
              f"{done['finished_at']:%Y-%m-%d %H:%M} UTC, {done['customers']:,} customers in "
              f"{done['k']} segments)" if done["run_id"] else "it holds no successful build")
    console.print(f"Restored the previous generation of {escape(str(done['warehouse']))}: "
                  f"{latest}.")
    if done["replaced_damaged"]:
        console.print(f"The damaged file it replaced is kept as {escape(str(done['kept_as']))}; "
                      "the next build replaces it (delete it sooner to free its space).")
    elif done["kept_as"] is not None:
        replaced = (f" (build {done['replaced_run_id']})" if done["replaced_run_id"] else "")
        console.print(f"The file it replaced{replaced} is kept as "
                      f"{escape(str(done['kept_as']))}: `python -m segkit restore` again puts "
                      "it back.")
    if done["carried_runs"]:
        console.print(f"{len(done['carried_runs'])} run(s) recorded only in the replaced file "
                      "are listed by `python -m segkit runs` (a build undone as failed).")
    console.print("Render the restored build's report as the latest with "
                  "`python -m segkit report`.")
    if done["spark_outputs"]:
        console.print(f"[yellow]![/yellow] The Spark engine's per-customer tables "
                      f"({escape(done['spark_outputs'])}) are not restored: they still hold "
                      "the last build's rows until the next build.")
    if done["run_id"]:
        print(done["run_id"])
    return 0


def _sql_parser(sub, formatter) -> None:
    """The `segkit sql` parser."""
    p = sub.add_parser(
        "sql", formatter_class=formatter, help="list or render the SQL project's models",
        description="The SQL under sql/ as a project: `sql list` shows the models in "
                    "dependency order with their materialization and version (like dbt ls); "
                    "`sql render MODEL` prints the exact SQL of one model for the current "
                    "config (like dbt compile), runnable as it is in a DuckDB session on the "
                    "warehouse.",
        epilog="examples:\n  python -m segkit sql list\n"
               "  python -m segkit sql render features.customer_rfm\n"
               "  python -m segkit sql render segments.live_segments --dialect spark")
    sql_sub = p.add_subparsers(dest="sql_command", metavar="SUBCOMMAND", required=True)
    q = sql_sub.add_parser("list", formatter_class=formatter,
                           help="the models in dependency order",
                           description="The models for the current config, upstream first.",
                           epilog="example:\n  python -m segkit sql list --config segkit.toml")
    _add_common(q)
    q = sql_sub.add_parser("render", formatter_class=formatter,
                           help="the exact SQL of one model",
                           description="Print one model's SQL for the current config.",
                           epilog="example:\n  python -m segkit sql render cleaning.as_of")
    q.add_argument("model", help="a model name from `segkit sql list`, e.g. features.customer_rfm")
    q.add_argument("--dialect", choices=("duckdb", "spark"), default="duckdb",
                   help="the SQL dialect to spell it in (default: duckdb)")
    _add_common(q)


def _sql(args) -> int:
    if args.sql_command == "render":
        print(api.sql_render(args.model, config=args.config, warehouse=args.warehouse,
                             dialect=args.dialect), end="")
        return 0
    frame = api.sql_list(args.config, warehouse=args.warehouse)
    return _print_frame(frame)


def _build(args) -> int:
    started = time.perf_counter()
    result = api.build(args.config, warehouse=args.warehouse, as_of=args.as_of, k=args.k,
                       seed=args.seed, no_map=args.no_map, engine=args.engine,
                       backtest_days=args.backtest_days, progress=TerminalProgress())
    names = ", ".join(result.segment_names)
    console.print(
        f"\n[bold]Built {result.k} segments[/bold] for {result.customers:,} customers "
        f"(silhouette {result.silhouette:.3f}) in {time.perf_counter() - started:.1f} s: "
        f"{escape(names)}.")
    console.print(f"Rows: {result.rows_in:,} in = {result.rows_used:,} used + "
                  f"{result.rows_quarantined:,} quarantined (see cleaning.quarantine).")
    console.print(f"Warehouse: {result.warehouse}  (query segments.customer_segments)")
    if result.report_path:
        console.print(f"Report:    {result.report_path}")
    if result.model_version:
        console.print(f"MLflow:    run {result.mlflow_run_id}, model version "
                      f"{result.model_version} (alias champion)")
    print(result.run_id)
    return 0


def _runs(args) -> int:
    frame = api.runs(args.config, warehouse=args.warehouse, limit=args.limit)
    return _print_frame(frame)


def _text(value) -> str:
    # Times to the second: microseconds only order builds, nobody reads them.
    if isinstance(value, dt.datetime):
        value = value.replace(microsecond=0)
    return "" if value is None else str(value)


def _print_frame(frame) -> int:
    if not sys.stdout.isatty():
        # Piped or redirected: tab-separated, whole values, for grep, cut and scripts.
        print("\t".join(frame.columns))
        for row in frame.iter_rows():
            print("\t".join(_text(v) for v in row))
        return 0
    table = Table(*frame.columns)
    for row in frame.iter_rows():
        table.add_row(*[f"{v:,}" if isinstance(v, int) else _text(v) for v in row])
    Console().print(table)
    return 0


def _as_of_words(info: dict) -> str:
    """The words " as of D (why D)": the day a score measured to, and the rule that chose it."""
    if info["as_of"] is None:  # feature rows: no dates in the file
        return ""
    day, rule, last = info["as_of"], info["as_of_rule"], info["file_last_day"]
    if rule == "given":
        return f" as of {day}"
    if rule == "file":
        return f" as of {day} (the file's last purchase day, after the build's as-of date)"
    if last == day:
        return f" as of {day} (the build's as-of date, also the file's last purchase day)"
    return f" as of {day} (the build's as-of date; the file's last purchase day is {last})"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``segkit`` and ``python -m segkit``; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "init":
            path = api.init(args.path, force=args.force, source=args.source,
                            table=args.table, query=args.query)
            what = ("Check the guessed mapping in \\[transactions]" if args.source
                    else "Edit \\[transactions] for your data")
            console.print(f"Wrote {escape(str(path))}. {what}, "
                          f"then run `python -m segkit build --config {escape(str(path))}`.")
            return 0
        if args.command == "generate":
            with console.status("Generating synthetic data..."):
                info = api.generate(Path(args.out), transactions=args.transactions,
                                    seed=args.seed, format=args.format)
            console.print(f"Wrote {args.transactions:,} transactions to {args.out} in "
                          f"{info.get('seconds', 0):.1f} s; build with `python -m segkit build "
                          f"--config {Path(args.out) / 'segkit.toml'}`.")
            return 0
        if args.command == "runs":
            return _runs(args)
        if args.command == "score":
            info = api.score(args.input, args.output, config=args.config,
                             warehouse=args.warehouse, model=args.model, as_of=args.as_of)
            as_of = _as_of_words(info)
            console.print(f"Scored {info['scored']:,} customers{as_of} with build "
                          f"{info['run_id']} into {escape(args.output)}.")
            if info["unscored"]:
                console.print(f"[yellow]![/yellow] {info['unscored']:,} customers could not "
                              "be scored; they are in the output with an unscored_reason.")
            return 0
        if args.command == "sql":
            return _sql(args)
        if args.command == "restore":
            return _restore(args)
        if args.command == "export":
            return _export(args)
        if args.command == "report":
            path = api.report(args.run_id, config=args.config, warehouse=args.warehouse)
            console.print(f"Report: {path}")
            return 0
    except SegkitError as exc:
        # Messages name config sections ("[transactions]"): print them, not as markup.
        console.print(f"[red]Error:[/red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("Interrupted; the previous build's results are unchanged.")
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


def run() -> None:
    """The ``segkit`` command and ``python -m segkit``: :func:`main`, then a quick exit.

    After a build the interpreter's own teardown (MLflow, SQLAlchemy, scikit-learn and
    the data still referenced) takes 1.2-1.5 s at 10M transactions, for nothing: every
    file is written and every database closed by then. So the process ends right away.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
