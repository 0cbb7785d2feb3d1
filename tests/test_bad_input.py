"""The catalogue of bad input: each case is refused clearly or quarantined with a reason.

A refused build exits non-zero with one paragraph naming the file, column or
value and the way out, and leaves the previous build's results untouched. A
quarantining build goes on, and its rows in = rows used + rows quarantined.
Never a traceback, never a silent drop. docs/RELIABILITY.md lists the cases.
"""

from __future__ import annotations

import importlib
import random
import re
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest

import segkit
from segkit import cli
from segkit.config import load_config
from segkit.errors import InputError
from tests.conftest import query

HEADER = "customer_id,ts,amount\n"
# The files here are small on purpose (the gate on too few customers has its own
# tests, tests/customers/test_gates.py): min_customers lets them through.
FAST_MODEL = """
[model]
min_customers = 2
n_init = 5
n_resamples = 3
k_max = 4
map = false

[mlflow]
enabled = false
"""


def good_rows(n: int = 80, customers: int = 25, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(
        f"c{rng.randint(1, customers):03d},2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
        f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}\n" for _ in range(n))


GOOD = HEADER + good_rows()


def project(folder: Path, data: str | bytes | None, *, warehouse: str = "wh/segkit.duckdb",
            columns: dict | None = None, transactions_extra: str = "", extra: str = "",
            top: str = "") -> Path:
    """Write data.csv (unless None) and a segkit.toml mapping it; return the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        (folder / "data.csv").write_bytes(data)
    elif data is not None:
        (folder / "data.csv").write_text(data, encoding="utf-8")
    mapping = {"customer_id": "customer_id", "timestamp": "ts", "amount": "amount",
               **(columns or {})}
    lines = "\n".join(f"{key} = {toml_string(value)}" for key, value in mapping.items())
    config = folder / "segkit.toml"
    config.write_text(f'warehouse = "{warehouse}"\n{top}\n[transactions]\npath = "data.csv"\n'
                      f"{lines}\n{transactions_extra}\n{FAST_MODEL}\n{extra}", encoding="utf-8")
    return config


def toml_string(value: str) -> str:
    """A TOML literal string when the value has a double quote (the injection cases)."""
    return f"'{value}'" if '"' in value else f'"{value}"'


def build(config: Path, capsys, *args: str) -> tuple[int, str]:
    """Run `segkit build` in-process; an unexpected exception fails the test with its traceback."""
    code = cli.main(["build", "--config", str(config), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, " ".join(err.split())  # undo the terminal's line wrapping


def snapshot(warehouse: Path) -> tuple:
    """What readers see: the current segments and the last successful run."""
    return (query(warehouse, "select * from segments.customer_segments order by customer_id"),
            query(warehouse, "select run_id, finished_at, rows_in from meta.runs "
                             "where status = 'success' order by finished_at desc limit 1"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A warehouse holding one good build; refused cases run against a copy of it."""
    folder = tmp_path_factory.mktemp("baseline")
    config = project(folder, GOOD)
    segkit.build(config)
    warehouse = folder / "wh" / "segkit.duckdb"
    return warehouse, snapshot(warehouse)


@pytest.fixture
def prior(baseline, tmp_path):
    """A copy of the baseline warehouse at tmp_path/wh/segkit.duckdb."""
    source, before = baseline
    target = tmp_path / "wh" / "segkit.duckdb"
    target.parent.mkdir()
    shutil.copy(source, target)
    return target, before


def assert_refused(code: int, err: str, expected_code: int, *phrases: str) -> None:
    assert code == expected_code, err
    # Progress lines of finished stages may come first; the error is the last paragraph.
    assert "Error: " in err, err
    message = err.split("Error: ", 1)[1]
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"


def assert_untouched(warehouse: Path, before: tuple, *, failed_with: str | None = None) -> None:
    assert snapshot(warehouse) == before
    # A build refused after its SQL stage had started the next file removed it.
    assert not Path(str(warehouse) + ".next").exists()
    # What `segkit runs` shows: meta.runs plus the runs journal beside the warehouse
    # (a refused build never touches the warehouse file itself).
    runs = segkit.runs(warehouse=warehouse, limit=1000)
    statuses = list(zip(runs["status"], runs["error"]))  # newest first
    assert [s for s, _ in statuses].count("success") == 1
    assert "running" not in [s for s, _ in statuses]
    if failed_with:  # the build got as far as registering: it is recorded as failed
        assert statuses[0][0] == "failed" and failed_with in statuses[0][1]


def accounting(warehouse: Path) -> dict:
    """Rows of the latest run: in, used, quarantined, and quarantine counts by reason."""
    run_id, rows_in, used, quarantined = query(
        warehouse, "select run_id, rows_in, rows_used, rows_quarantined from meta.runs "
                   "where status = 'success' order by finished_at desc limit 1")[0]
    assert rows_in == used + quarantined
    by_reason = dict(query(warehouse, "select reason, sum(n_rows) from meta.row_accounting "
                                      "where run_id = ? and source = 'transactions' "
                                      "group by reason", [run_id]))
    assert sum(by_reason.values()) == rows_in
    assert by_reason.get(None, 0) == used
    stored = dict(query(warehouse, "select reason, count(*) from meta.quarantine_history "
                                   "where run_id = ? and source = 'transactions' group by reason",
                        [run_id]))
    assert stored == {r: n for r, n in by_reason.items() if r is not None}
    # The live view over the source agrees with what the build recorded.
    live = dict(query(warehouse, "select reason, count(*) from cleaning.quarantine "
                                 "where source = 'transactions' group by reason"))
    assert live == stored
    return {"in": rows_in, "used": used, "quarantined": quarantined, "reasons": stored}


# -- refused: a clear message, a non-zero exit, the previous results untouched ---------

def test_missing_file(prior, tmp_path, capsys):
    warehouse, before = prior
    config = project(tmp_path, None)
    code, err = build(config, capsys)
    assert_refused(code, err, 2, 'segkit.toml [transactions]: path = "data.csv" does not exist',
                   str(tmp_path / "data.csv"))
    assert_untouched(warehouse, before)


def test_empty_file(prior, tmp_path, capsys):
    warehouse, before = prior
    code, err = build(project(tmp_path, ""), capsys)
    assert_refused(code, err, 3, f"{tmp_path / 'data.csv'} is empty (0 bytes)",
                   "Point [transactions] path at a file with a header row and data rows")
    assert_untouched(warehouse, before, failed_with="is empty")


def test_header_only(prior, tmp_path, capsys):
    warehouse, before = prior
    code, err = build(project(tmp_path, HEADER), capsys)
    assert_refused(code, err, 3, "data.csv has no data rows (only a header, or nothing)",
                   "Point [transactions] at a file with transactions")
    assert_untouched(warehouse, before, failed_with="no data rows")


def test_mapped_column_that_does_not_exist_suggests_close_names(prior, tmp_path, capsys):
    warehouse, before = prior
    code, err = build(project(tmp_path, GOOD, columns={"amount": "ammount"}), capsys)
    assert_refused(code, err, 3, '[transactions] amount: column "ammount" is not in',
                   '(did you mean "amount"?)', "Its columns are: customer_id, ts, amount.")
    assert_untouched(warehouse, before, failed_with="ammount")


def test_wrong_delimiter_in_config_names_the_real_one(prior, tmp_path, capsys):
    warehouse, before = prior
    config = project(tmp_path, GOOD.replace(",", ";"), transactions_extra='delimiter = ","')
    code, err = build(config, capsys)
    assert_refused(code, err, 3, "The file was read as one column, so it is separated by ';'",
                   "set delimiter = ';' in [transactions]")
    assert_untouched(warehouse, before)


def test_non_utf8_bytes_name_the_encoding_setting(prior, tmp_path, capsys):
    warehouse, before = prior
    data = (GOOD + "caf\xe9,2023-01-01,3.00\n").encode("latin-1")
    code, err = build(project(tmp_path, data), capsys)
    assert_refused(code, err, 3, "data.csv ([transactions])", "The file is not UTF-8",
                   'set encoding = "latin-1"')
    assert_untouched(warehouse, before)
    # ...and following the advice works.
    config = project(tmp_path, data, transactions_extra='encoding = "latin-1"')
    code, err = build(config, capsys)
    assert code == 0, err
    assert query(warehouse, "select count(*) from segments.customer_segments "
                            "where customer_id = 'caf\xe9'") == [(1,)]


def test_all_customer_ids_missing(prior, tmp_path, capsys):
    warehouse, before = prior
    data = HEADER + "".join("," + line.split(",", 1)[1] + "\n"
                            for line in good_rows().splitlines())
    code, err = build(project(tmp_path, data), capsys)
    assert_refused(code, err, 3, "none of the 80 rows in data.csv can be used",
                   "80 have 'missing customer id'",
                   "check that customer_id names the right column")
    assert_untouched(warehouse, before, failed_with="missing customer id")


def test_all_dates_unparseable_suggests_timestamp_format(prior, tmp_path, capsys):
    warehouse, before = prior
    data = HEADER + "".join(f"c{i},{i % 28 + 1:02d}/13/2023,5.00\n" for i in range(30))
    code, err = build(project(tmp_path, data), capsys)
    assert_refused(code, err, 3, "none of the 30 rows in data.csv can be used",
                   "'missing or unparseable timestamp' (e.g. '01/13/2023')",
                   'set timestamp_format in [transactions], e.g. "%d/%m/%Y"')
    assert_untouched(warehouse, before, failed_with="unparseable timestamp")


def test_a_single_customer(prior, tmp_path, capsys):
    warehouse, before = prior
    data = HEADER + "".join("c1," + line.split(",", 1)[1] + "\n"
                            for line in good_rows().splitlines())
    code, err = build(project(tmp_path, data), capsys)
    # the gate on too few customers stops it before the model (min_customers = 2 here)
    assert_refused(code, err, 3, "data.csv has 1 customer to segment",
                   "[model] min_customers = 2")
    assert_untouched(warehouse, before, failed_with="1 customer to segment")


def test_every_customer_identical(prior, tmp_path, capsys):
    warehouse, before = prior
    data = HEADER + "".join(f"c{i},2023-01-01,5.00\n" for i in range(30))
    code, err = build(project(tmp_path, data), capsys)
    assert_refused(code, err, 3, "cannot segment", "carries no information")
    assert_untouched(warehouse, before, failed_with="cannot segment")


def test_duplicate_mapped_column_names(prior, tmp_path, capsys):
    warehouse, before = prior
    data = "customer_id,ts,amount,amount\n" + "".join(
        line + ",1\n" for line in good_rows().splitlines())
    code, err = build(project(tmp_path, data), capsys)
    assert_refused(code, err, 3, 'column "amount" ([transactions] amount) appears 2 times in '
                                 "the header (columns 3, 4)", "Rename the copies")
    assert_untouched(warehouse, before)


def test_config_key_typo(prior, tmp_path, capsys):
    warehouse, before = prior
    config = project(tmp_path, GOOD, extra="")
    config.write_text(config.read_text().replace("k_max = 4", "k_mx = 4"))
    code, err = build(config, capsys)
    assert_refused(code, err, 2, 'segkit.toml [model]: unknown key "k_mx" (did you mean '
                                 '"k_max"?)')
    assert_untouched(warehouse, before)


def test_sql_in_a_mapped_column_name_is_only_a_missing_column(prior, tmp_path, capsys):
    warehouse, before = prior
    evil = 'x"; DROP TABLE meta.runs; --'
    code, err = build(project(tmp_path, GOOD, columns={"customer_id": evil}), capsys)
    assert_refused(code, err, 3, f'[transactions] customer_id: column "{evil}" is not in')
    assert_untouched(warehouse, before, failed_with=evil)


def test_sql_in_timestamp_format_and_prefix_is_only_a_value(prior, tmp_path, capsys):
    warehouse, before = prior
    config = project(tmp_path, GOOD, columns={"order_id": "amount"},
                     transactions_extra="timestamp_format = \"%Y-%m-%d'); drop table "
                                        "meta.runs; --\"\ncancellation_prefix = \"'; drop "
                                        "table meta.runs; --\"")
    code, err = build(config, capsys)
    assert_refused(code, err, 3, "none of the 80 rows", "unparseable timestamp")
    assert_untouched(warehouse, before, failed_with="unparseable timestamp")


def test_fewer_customers_than_k(prior, tmp_path, capsys):
    warehouse, before = prior
    data = HEADER + "c1,2023-01-01,5\nc2,2023-02-01,7\nc3,2023-03-01,100\n"
    code, err = build(project(tmp_path, data), capsys, "--k", "5")
    assert_refused(code, err, 3, "cannot segment", "data.csv")
    assert_untouched(warehouse, before, failed_with="cannot segment")


def test_warehouse_path_under_a_regular_file(tmp_path, capsys):
    (tmp_path / "somefile.txt").write_text("not a folder")
    config = project(tmp_path, GOOD, warehouse="somefile.txt/segkit.duckdb")
    code, err = build(config, capsys)
    assert_refused(code, err, 2, 'warehouse = "somefile.txt/segkit.duckdb" needs',
                   "somefile.txt to be a folder, but it is a file")
    # --warehouse skips the config check; the warehouse module says the same.
    config = project(tmp_path, GOOD)
    code, err = build(config, capsys, "--warehouse", str(tmp_path / "somefile.txt" / "w.duckdb"))
    assert_refused(code, err, 5, "somefile.txt is a file, not a folder")


def test_reports_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "reports").write_text("")
    code, err = build(project(tmp_path, GOOD, top='reports_dir = "reports"'), capsys)
    assert_refused(code, err, 2, 'reports_dir = "reports" needs', "it is a file")


@pytest.mark.parametrize("run_id", ["../../../tmp/escaped", "..", "/etc/passwd", "a/../../b"])
def test_report_run_id_cannot_escape_the_reports_folder(prior, tmp_path, run_id):
    # The run id becomes the report's file name: only a plain id is accepted.
    report = importlib.import_module("segkit.reporting")
    config = load_config(project(tmp_path, GOOD))
    with pytest.raises(InputError, match=f"run id {re.escape(repr(run_id))} is not valid"):
        report.render_report(config, run_id)
    assert not (tmp_path / "reports").exists()
    assert not Path("/tmp/escaped.html").exists()


# -- quarantined: the build goes on, every row accounted for ---------------------------

def test_semicolon_file_is_detected_without_a_delimiter(tmp_path, capsys):
    code, err = build(project(tmp_path, GOOD.replace(",", ";")), capsys)
    assert code == 0, err
    rows = accounting(tmp_path / "wh" / "segkit.duckdb")
    assert rows["in"] == rows["used"] == 80


def test_live_views_read_an_unusual_dialect_as_the_build_did(tmp_path, capsys):
    # A title line above the header, ';' between fields, single quotes around a
    # value that holds the delimiter: the build finds this dialect once and the
    # live views read the file with it, so they split every line the same way.
    rows = GOOD.replace(",", ";").replace("customer_id;ts;amount\n", "")
    data = "Orders export, 2023\ncustomer_id;ts;amount\n" + rows + "c001;'2023-01-05';'12;50'\n"
    code, err = build(project(tmp_path, data), capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    assert accounting(warehouse) == {"in": 81, "used": 80, "quarantined": 1,
                                     "reasons": {"amount missing or not a number": 1}}
    assert query(warehouse, "select customer_id, amount_text from cleaning.quarantine") == [
        ("c001", "12;50")]
    live = query(warehouse, "select count(*), count(distinct customer_id) "
                            "from cleaning.transactions")
    built = query(warehouse, "select count(*) from segments.customer_segments")[0][0]
    assert live[0][0] == 80 and live[0][1] == built


def test_amounts_written_as_text_are_quarantined(tmp_path, capsys):
    data = GOOD + 'c001,2023-01-01,"12,50"\nc002,2023-01-01,abc\nc003,2023-01-01,\n'
    code, err = build(project(tmp_path, data), capsys)
    assert code == 0, err
    rows = accounting(tmp_path / "wh" / "segkit.duckdb")
    assert rows == {"in": 83, "used": 80, "quarantined": 3,
                    "reasons": {"amount missing or not a number": 3}}
    kept = query(tmp_path / "wh" / "segkit.duckdb",
                 "select amount_text from cleaning.quarantine order by amount_text nulls first")
    assert kept == [(None,), ("12,50",), ("abc",)]
    assert "Rows: 83 in = 80 used + 3 quarantined" in err


def test_unparseable_and_mixed_dates_are_quarantined_with_a_warning(tmp_path, capsys):
    slashed = "".join(f"c{i:03d},{i % 28 + 1:02d}/03/2023,10.00\n" for i in range(1, 21))
    data = GOOD + slashed + "c001,not a date,5\nc002,2023-13-45,5\n"
    code, err = build(project(tmp_path, data), capsys)
    assert code == 0, err
    rows = accounting(tmp_path / "wh" / "segkit.duckdb")
    assert rows["reasons"] == {"missing or unparseable timestamp": 22}
    assert rows["used"] == 80
    # The reason, the count, the share and a sample value (the smallest, so it repeats).
    assert ("22 of 102 transactions rows (21.6%) were quarantined as 'missing or unparseable "
            "timestamp', e.g. '02/03/2023' (see cleaning.quarantine)") in err and "set timestamp_format in [transactions]" in err
    # A list of formats reads both ways of writing a date.
    config = project(tmp_path, data,
                     transactions_extra='timestamp_format = ["%Y-%m-%d", "%d/%m/%Y"]')
    code, err = build(config, capsys)
    assert code == 0, err
    assert accounting(tmp_path / "wh" / "segkit.duckdb")["reasons"] == {
        "missing or unparseable timestamp": 2}


def test_nan_inf_and_huge_amounts_are_quarantined(tmp_path, capsys):
    bad = ["NaN", "inf", "-inf", "1e300", "99999999999999999999999", "-5", "0"]
    data = GOOD + "".join(f"c001,2023-01-01,{v}\n" for v in bad)
    code, err = build(project(tmp_path, data), capsys)
    assert code == 0, err
    rows = accounting(tmp_path / "wh" / "segkit.duckdb")
    assert rows["reasons"] == {"amount missing or not a number": 3,  # NaN and infinities
                               "amount too large": 2,  # 1e300 and 23 digits
                               "amount zero or negative": 2}
    monetary = query(tmp_path / "wh" / "segkit.duckdb",
                     "select max(value) from (select unnest(bins) as value "
                     "from segments.segment_history)")[0][0]
    assert monetary is not None and monetary < 10


def test_future_dates_are_quarantined_and_do_not_move_as_of(tmp_path, capsys):
    data = GOOD + "c001,2099-01-01,5.00\n"
    code, err = build(project(tmp_path, data), capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    assert accounting(warehouse)["reasons"] == {"timestamp after the as-of date": 1}
    assert query(warehouse, "select year(as_of_date) from meta.runs") == [(2023,)]


def test_negative_and_absurd_ages_become_missing_and_say_so(tmp_path, capsys):
    ages = [-5, 250, 1e9, "abc", 30, 40, 25, 35, 45, 55, 65, 22, 33, 44, 55, 66, 77, 88, 18, 19,
            20, 21, 23, 24, 26]
    (tmp_path / "customers.csv").write_text(
        "id,age\n" + "".join(f"c{i:03d},{a}\n" for i, a in enumerate(ages, 1)))
    config = project(tmp_path, GOOD, extra='[customers]\npath = "customers.csv"\n'
                                           'customer_id = "id"\nage = "age"\n')
    code, err = build(config, capsys)
    assert code == 0, err
    assert ("3 customers have an age outside [features] age_range [16, 100]" in err)
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    # -5, 250 and 1e9 are impossible, "abc" is not a number: four imputed.
    assert query(warehouse, "select n_imputed from meta.column_quality "
                            "where column_name = 'age'") == [(4,)]
    accounting(warehouse)


def test_a_real_column_named_like_sql_injection_works(tmp_path, capsys):
    evil = 'x"; DROP TABLE meta.runs; --'
    data = '"x""; DROP TABLE meta.runs; --",ts,amount\n' + good_rows()
    code, err = build(project(tmp_path, data, columns={"customer_id": evil}), capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    assert query(warehouse, "select status from meta.runs") == [("success",)]
    assert query(warehouse, "select count(*) from staging.transactions") == [(80,)]
    customers = len({line.split(",")[0] for line in good_rows().splitlines()})
    assert query(warehouse, "select count(distinct customer_id) from "
                            "segments.customer_segments") == [(customers,)]
    accounting(warehouse)


def test_sql_in_categorical_levels_is_only_data(tmp_path, capsys):
    evil = "'); drop table meta.runs; --"
    (tmp_path / "customers.csv").write_text(
        "id,channel\n" + "".join(f'c{i:03d},"{evil if i % 2 else "web"}"\n'
                                 for i in range(1, 26)))
    config = project(tmp_path, GOOD, extra='[customers]\npath = "customers.csv"\n'
                                           'customer_id = "id"\ncategorical = ["channel"]\n')
    code, err = build(config, capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    assert query(warehouse, "select status from meta.runs") == [("success",)]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        features = con.sql("select * from features.customer_features").columns
    finally:
        con.close()
    assert "is_channel_drop_table_meta_runs" in features


# -- default rules never drop real data silently --------------------------------------

def orders_with_c_ids(n_customers: int = 40, seed: int = 1) -> str:
    """Orders whose ids carry a region/channel code; a few customers order only as "CA-"."""
    rng = random.Random(seed)
    lines = ["order_id,customer_id,ts,amount\n"]
    for i in range(1, n_customers + 1):
        # customers 1-3 order only through the Canadian shop: every id starts with "C"
        prefixes = ["CA-"] if i <= 3 else ["CA-", "CORP-", "US-", "DE-"]
        for j in range(rng.randint(2, 5)):
            prefix = "US-" if j == 0 and i > 3 else rng.choice(prefixes)
            lines.append(f"{prefix}{i:03d}{j},c{i:03d},2023-{rng.randint(1, 12):02d}"
                         f"-{rng.randint(1, 28):02d},{rng.randint(5, 300)}.{rng.randint(0, 99):02d}\n")
    return "".join(lines)


def test_order_ids_starting_with_c_are_not_cancellations_by_default(tmp_path, capsys):
    data = orders_with_c_ids()
    code, err = build(project(tmp_path, data, columns={"order_id": "order_id"}), capsys)
    assert code == 0, err
    rows = accounting(tmp_path / "wh" / "segkit.duckdb")
    assert rows["quarantined"] == 0 and rows["reasons"] == {}
    assert rows["in"] == data.count("\n") - 1
    assert query(tmp_path / "wh" / "segkit.duckdb",
                 "select count(*) from segments.customer_segments") == [(40,)]
    assert "quarantined" not in err.replace("0 quarantined", "")


def test_a_configured_prefix_that_removes_many_rows_and_customers_is_a_warning(tmp_path, capsys):
    data = orders_with_c_ids()
    code, err = build(project(tmp_path, data, columns={"order_id": "order_id"},
                              transactions_extra='cancellation_prefix = "C"'), capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    rows = accounting(warehouse)
    n = rows["reasons"]["cancellation or return"]
    assert n == sum(1 for line in data.splitlines()[1:] if line.startswith("C"))
    share = f"{n / rows['in']:.1%}"
    # The reason, the count, the share and a sample value, in the terminal...
    expected = (f"{n:,} of {rows['in']:,} transactions rows ({share}) were quarantined as "
                f"'cancellation or return', e.g. 'CA-0010' (see cleaning.quarantine); negative "
                "quantities are returns; if these are real orders, check cancellation_prefix "
                "in [transactions].")
    lost = ("3 customers lost every transaction line to quarantine and are not segmented: "
            "'cancellation or return' for 3 (e.g. customer 'c001') (see meta.row_accounting, "
            "n_customers_lost).")
    assert expected in err and lost in err
    # ...in meta.runs (which the report shows)...
    stored = query(warehouse, "select warnings from meta.runs where status = 'success'")[0][0]
    assert expected in stored.splitlines() and lost in stored.splitlines()
    # ...and the accounting counts the customers who lost every line.
    assert query(warehouse, "select reason, n_customers_lost from meta.row_accounting "
                            "order by reason nulls first") == [
        (None, 0), ("cancellation or return", 3)]
    assert query(warehouse, "select count(*) from segments.customer_segments") == [(37,)]
    report = next((tmp_path / "reports").glob("2*.html")).read_text()
    assert "3 customers lost every transaction line to quarantine" in report


# -- tiny inputs: a clear message or a valid result, never a traceback, map on ----------

MAP_ON = FAST_MODEL.replace("map = false", "map = true")


def test_two_customers_with_the_map_on(tmp_path, capsys):
    data = HEADER + "a,2023-01-01,10\na,2023-02-01,30\nb,2023-03-01,5\n"
    config = project(tmp_path, data)
    config.write_text(config.read_text().replace(FAST_MODEL, MAP_ON))
    code, err = build(config, capsys)
    assert code == 0, err
    warehouse = tmp_path / "wh" / "segkit.duckdb"
    assert query(warehouse, "select count(*), count(distinct segment_id) from "
                            "segments.customer_segments") == [(2, 2)]
    assert query(warehouse, "select count(distinct customer_id) from segments.tsne_history "
                            "where x is not null and isfinite(x) and isfinite(y)") == [(2,)]


@pytest.mark.parametrize("customers, expected", [
    # one customer: nothing to compare; a clear input error
    (["a,2023-01-01,10\n"], (3, "has 1 customer to segment, fewer than [model] min_customers")),
    # three customers, one distinct vector: nothing separates them
    (["a,2023-01-01,10\n", "b,2023-01-01,10\n", "c,2023-01-01,10\n"],
     (3, "were dropped (each carries no information after discretization)")),
    # three customers, three distinct vectors: a valid result with a map
    (["a,2023-01-01,10\n", "b,2023-01-02,11\n", "c,2023-01-03,12\n"], (0, None)),
])
def test_one_to_three_distinct_vectors_with_the_map_on(tmp_path, capsys, customers, expected):
    config = project(tmp_path, HEADER + "".join(customers))
    config.write_text(config.read_text().replace(FAST_MODEL, MAP_ON))
    code, err = build(config, capsys)
    assert code == expected[0], err
    if expected[1]:
        assert_refused(code, err, expected[0], expected[1])
    else:
        assert query(tmp_path / "wh" / "segkit.duckdb",
                     "select count(*) from segments.tsne_map") == [(3,)]
