"""Every model on its own: a few literal input rows per upstream table, the exact rows out.

The SQLMesh unit-test shape: each test creates the tables a model reads (and
nothing else) in a fresh DuckDB file, renders the model for a small context,
runs it, and compares the rows. A model that reads an upstream model gets that
model's rows as a plain table, so a test fails only for the model it names.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from segkit import features, project, warehouse
from segkit.config import load_config
from tests.conftest import write_config

D = dt.date
T = dt.datetime


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The render context of a config with transactions (one categorical) and customers."""
    folder: Path = tmp_path_factory.mktemp("models")
    (folder / "orders.csv").write_text(
        "order,customer,at,qty,price,country\n"
        "1,A,2024-01-01 10:00:00,2,5.00,UK\n"
        "C2,17850.0,2024-01-02 11:00:00,-1,3.50,\n"
        "3, ,bad,1,1,FR\n")
    (folder / "people.csv").write_text(
        "customer,born,income,segment\n"
        "A,1990,50000,gold\n"
        "B,,n/a,\n")
    cfg = load_config(write_config(folder, """
        [transactions]
        path = "orders.csv"
        customer_id = "customer"
        timestamp = "at"
        quantity = "qty"
        unit_price = "price"
        order_id = "order"
        categorical = ["country"]
        [customers]
        path = "people.csv"
        customer_id = "customer"
        birth_year = "born"
        numeric = ["income"]
        categorical = ["segment"]
    """))
    con = warehouse.connect_work(cfg.duckdb, folder / "tmp")
    ctx = features.render_context(con, cfg)
    con.close()
    ctx.update(features.segment_context(["recency_days", "monetary"]))
    return ctx


@pytest.fixture
def db(tmp_path):
    con = duckdb.connect(str(tmp_path / "unit.duckdb"))
    for schema in ("staging", "cleaning", "features", "segments", "meta"):
        con.execute(f"create schema {schema}")
    yield con
    con.close()


def given(con, table: str, columns: str, rows: list[tuple]) -> None:
    """An input table from literal rows; ``columns`` is ``name type, ...``."""
    con.execute(f"create table {table} ({columns})")
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"insert into {table} values ({marks})", rows)


def run(con, name: str, context: dict, order_by: str = "all", **extra) -> list[tuple]:
    model = next(m for m in project.load_models() if m.name == name)
    sql = project.render(model, {**context, **extra})
    return con.execute(f"select * from ({sql}) order by {order_by}").fetchall()


def columns(con, name: str, context: dict, **extra) -> list[str]:
    model = next(m for m in project.load_models() if m.name == name)
    sql = project.render(model, {**context, **extra})
    return [d[0] for d in con.execute(f"describe {sql}").fetchall()]


# -- staging ---------------------------------------------------------------------

def test_staging_transactions_types_renames_and_normalises_ids(db, context):
    got = run(db, "staging.transactions", context, order_by="order_id")
    ids = [(r[0], r[1], r[2], r[4], r[11]) for r in got]
    assert ids == [
        ("A", "1", T(2024, 1, 1, 10), Decimal("10.0000"), False),
        (None, "3", None, Decimal("1.0000"), False),  # blank id, unparseable time
        ("17850", "C2", T(2024, 1, 2, 11), Decimal("-3.5000"), True),  # "17850.0" -> "17850"
    ]


def test_staging_customers_types_and_keeps_bad_numbers_as_null(db, context):
    got = run(db, "staging.customers", context, order_by="customer_id")
    assert [(r[0], r[1], r[4], r[5]) for r in got] == [
        ("A", 1990.0, 50000.0, "gold"),
        ("B", None, None, None),
    ]


def money_context(folder: Path, mapping: str, data: str | None = None,
                  parquet_sql: str | None = None, extra: str = "") -> dict:
    """The render context of a source of ``data`` (CSV) or ``parquet_sql`` (a query
    written to Parquet) whose money columns ``mapping`` names."""
    folder.mkdir(exist_ok=True)
    if parquet_sql:
        path = folder / "orders.parquet"
        duckdb.sql(f"copy ({parquet_sql}) to '{path}' (format parquet)")
    else:
        path = folder / "orders.csv"
        path.write_text(data)
    cfg = load_config(write_config(folder, f"""
        [transactions]
        path = "{path.name}"
        customer_id = "customer"
        timestamp = "at"
        {mapping}
        {extra}
    """))
    con = warehouse.connect_work(cfg.duckdb, folder / "tmp")
    try:
        return features.render_context(con, cfg)
    finally:
        con.close()


def money(db, context) -> list[tuple]:
    """(amount, amount_rounding, is_amount_too_large) of every staged line, in file order."""
    got = run(db, "staging.transactions", context, order_by="row_hash")
    names = columns(db, "staging.transactions", context)
    index = [names.index(c) for c in ("amount", "amount_rounding", "is_amount_too_large",
                                      "ordered_at")]
    return [tuple(r[i] for i in index[:3]) for r in sorted(got, key=lambda r: r[index[3]])]


def test_staging_transactions_reads_text_amounts_exactly_and_rounds_once(db, tmp_path):
    values = ["12.5", " 7.10 ", "7.10000000", "12.34565", "12.34564999", "15.299999999999999",
              "0.00004", "-3.25", "12,50", "abc", "", "inf", "NaN", "1e15",
              "99999999999999.99995", "99999999999999.9999", "1.5e-3"]
    data = "customer,at,amount\n" + "".join(
        f'A,2024-01-01 00:00:{i:02d},"{v}"\n' for i, v in enumerate(values))
    context = money_context(tmp_path, 'amount = "amount"', data)
    assert (context["transactions"]["amount_kind"], context["transactions"]["amount_scale"]) == (
        "text", 4)
    assert money(db, context) == [
        (Decimal("12.5000"), None, False),
        (Decimal("7.1000"), None, False),  # spaces
        (Decimal("7.1000"), None, False),  # zeros beyond the scale are not rounding
        (Decimal("12.3457"), "rounded", False),  # half-up, once
        (Decimal("12.3456"), "rounded", False),
        (Decimal("15.3000"), "float noise", False),  # a double printed with 17 digits
        (Decimal("0.0000"), "rounded", False),  # cleaning: zero
        (Decimal("-3.2500"), None, False),
        (None, None, False), (None, None, False), (None, None, False),  # not numbers
        (None, None, False), (None, None, False),  # infinity, NaN
        (None, None, True),  # 10^15: too large
        (None, None, True),  # rounds up to 10^14
        (Decimal("99999999999999.9999"), None, False),  # the largest amount kept
        (Decimal("0.0015"), None, False),
    ]


def test_staging_transactions_keeps_a_declared_scale_and_reads_doubles_by_their_text(
        db, tmp_path):
    exact = money_context(tmp_path / "decimal", 'amount = "amount"', parquet_sql=(
        "select 'A' as customer, timestamp '2024-01-01' + to_seconds(i) as at, "
        "amount::decimal(10, 3) as amount from (values (0, 1.125), (1, 2.5)) as v(i, amount)"))
    assert (exact["transactions"]["amount_kind"], exact["transactions"]["amount_scale"]) == (
        "exact", 3)
    assert money(db, exact) == [(Decimal("1.125"), None, False), (Decimal("2.500"), None, False)]
    # DuckDB casts the double 561.045 to 561.04 (its binary value, scaled); its text
    # says 561.045, and half-up gives 561.05, as Spark reads it. Where a double is a
    # number of 2 decimals but for float noise the direct cast is kept (fast)
    values = ["561.045::double", "0.1::double + 0.2::double", "2.675::double", "12.5::double",
              "123.456789::double", "1234567890.125::double", "1234567890.12::double",
              "'nan'::double", "'inf'::double", "1e15::double", "null::double"]
    doubles = money_context(tmp_path / "double", 'amount = "amount"', parquet_sql=(
        "select 'A' as customer, timestamp '2024-01-01' + to_seconds(i) as at, amount "
        "from (values " + ", ".join(f"({i}, {v})" for i, v in enumerate(values))
        + ") as v(i, amount)"), extra="amount_decimals = 2")
    assert (doubles["transactions"]["amount_kind"], doubles["transactions"]["amount_scale"]) == (
        "float", 2)
    assert money(db, doubles) == [
        (Decimal("561.05"), "rounded", False),
        (Decimal("0.30"), "float noise", False),  # 0.30000000000000004
        (Decimal("2.68"), "rounded", False),
        (Decimal("12.50"), None, False),
        (Decimal("123.46"), "rounded", False),
        (Decimal("1234567890.13"), "rounded", False),  # above 10^9: read from its text
        (Decimal("1234567890.12"), None, False),
        (None, None, False), (None, None, False),  # NaN, infinity
        (None, None, True),  # 10^15
        (None, None, False),
    ]
    assert project.render(next(m for m in project.load_models()
                               if m.name == "staging.transactions"), doubles).count(
        "try_cast(amount_source as decimal(16, 2))") >= 2  # the direct cast, where it is exact


def test_staging_transactions_multiplies_quantity_and_price_exactly(db, tmp_path):
    lines = [("3", "0.33335"), ("1.5", "2.5"), ("6", "2.55"), ("2", "0.00004"),
             ("1000000000000000", "1"), ("1", "x"), ("-2", "1.25")]
    data = "customer,at,qty,price\n" + "".join(
        f"A,2024-01-01 00:00:{i:02d},{q},{p}\n" for i, (q, p) in enumerate(lines))
    context = money_context(tmp_path, 'quantity = "qty"\n        unit_price = "price"', data)
    assert money(db, context) == [
        (Decimal("1.0001"), "rounded", False),  # 1.00005, half-up
        (Decimal("3.7500"), None, False),
        (Decimal("15.3000"), None, False),
        (Decimal("0.0001"), "rounded", False),  # 0.00008
        (None, None, True),  # a quantity of 10^15
        (None, None, False),  # a price that is not a number
        (Decimal("-2.5000"), None, False),  # a return (cleaning: cancellation)
    ]


# -- cleaning --------------------------------------------------------------------

SCREEN_INPUT = ("customer_id varchar, order_id varchar, ordered_at timestamp, "
                "ordered_at_source varchar, amount decimal(18,4), amount_rounding varchar, "
                "is_amount_too_large boolean, amount_source varchar, "
                "quantity decimal(18,6), quantity_source varchar, unit_price_source varchar, "
                "is_cancellation boolean, country varchar, row_hash ubigint")


def test_cleaning_transactions_screened_gives_the_first_failing_check(db, context):
    t = T(2024, 1, 1)
    given(db, "staging.transactions", SCREEN_INPUT, [
        ("A", "1", t, "x", Decimal("5"), None, False, None, 1, "1", "5", False, "UK", 1),
        # a repeat: cleaning.transactions_checked's
        ("A", "1", t, "x", Decimal("5"), None, False, None, 1, "1", "5", False, "UK", 1),
        (None, "2", t, "x", Decimal("5"), None, False, None, 1, "1", "5", False, "UK", 2),
        ("B", "3", None, "bad", None, None, False, None, 1, "1", "x", False, "UK", 3),  # two
        ("B", "C4", t, "x", Decimal("-5"), None, False, None, -1, "-1", "5", True, "UK", 4),
        ("B", "5", t, "x", None, None, False, None, 1, "1", "1,5", False, "UK", 5),
        ("B", "6", t, "x", Decimal("0"), None, False, None, 1, "1", "0", False, "UK", 6),
        ("B", "7", t, "x", None, None, True, None, 1, "1", "1e15", False, "UK", 7),
    ])
    got = run(db, "cleaning.transactions_screened", context, order_by="order_id, 6")
    assert [(r[1], r[6], r[7], r[8]) for r in got] == [
        ("1", None, None, None),
        ("1", None, None, None),  # repeats need other lines: cleaning.transactions_checked
        ("2", "missing customer id", "x", "1 x 5"),
        ("3", "missing or unparseable timestamp", "bad", "1 x x"),
        ("5", "amount missing or not a number", "x", "1 x 1,5"),
        ("6", "amount zero or negative", "x", "1 x 0"),
        ("7", "amount too large", "x", "1 x 1e15"),
        ("C4", "cancellation or return", "x", "-1 x 5"),
    ]


def test_cleaning_as_of_is_the_last_usable_day_not_in_the_future(db, context):
    given(db, "cleaning.line_groups", "purchase_date date", [
        (D(2024, 1, 3),), (D(2099, 1, 1),), (D(2024, 1, 2),)])
    assert run(db, "cleaning.as_of", context) == [(D(2024, 1, 3),)]
    assert run(db, "cleaning.as_of", context, as_of_given="date '2023-12-31'") == [
        (D(2023, 12, 31),)]


CHECKED_INPUT = ("customer_id varchar, order_id varchar, ordered_at timestamp, "
                 "amount decimal(18,4), amount_rounding varchar, country varchar, "
                 "quarantine_reason varchar, ordered_at_text varchar, amount_text varchar")


def create(db, name, context):
    model = next(m for m in project.load_models() if m.name == name)
    kind = "view" if model.materialized == "view" else "table"
    db.execute(f"create {kind} {name} as {project.render(model, context)}")


def staged(db, context, rows, as_of=None):
    """Lines as staging gives them, through the models a build materializes.

    Rows are (customer, order, at, amount, quantity, row hash[, amount_rounding]);
    with ``as_of`` the as-of date is given, else it is the model's.
    """
    given(db, "staging.transactions", SCREEN_INPUT, [
        (c, o, at, str(at), amount, rounding[0] if rounding else None, False, None, q, str(q),
         "5", q is not None and q < 0, "UK", h)
        for c, o, at, amount, q, h, *rounding in rows])
    create(db, "cleaning.transactions_screened", context)
    create(db, "cleaning.line_groups", context)
    if as_of:
        given(db, "cleaning.as_of", "as_of_date date", [(as_of,)])
    else:
        create(db, "cleaning.as_of", context)
    create(db, "cleaning.transactions_set_aside", context)


def test_cleaning_transactions_checked_rejects_lines_after_the_as_of_date(db, context):
    staged(db, context, [
        ("A", "1", T(2024, 1, 3, 23), Decimal("5"), 1, 1),
        ("A", "2", T(2024, 1, 4), Decimal("6"), 1, 2),
        ("A", "3", T(2024, 1, 5), Decimal("0"), 1, 3),
    ], as_of=D(2024, 1, 3))
    got = run(db, "cleaning.transactions_checked", context, order_by="order_id")
    assert [(r[1], r[6], r[7], r[8]) for r in got] == [
        ("1", None, None, None),
        ("2", "timestamp after the as-of date", "2024-01-04 00:00:00", "6.0000"),
        ("3", "amount zero or negative", "2024-01-05 00:00:00", "1 x 5"),  # the earlier reason stays
    ]


def test_cleaning_transactions_checked_keeps_one_copy_of_a_repeated_line(db, context):
    at = T(2024, 1, 3)
    line = ("A", "1", at, Decimal("5"), 1, 7)
    bad = ("A", "9", at, Decimal("0"), 1, 9)
    staged(db, context, [line, line, line, bad, bad, ("A", "2", at, Decimal("6"), 1, 8),
                         ("B", "3", at, Decimal("2"), 1, 10)])
    got = run(db, "cleaning.transactions_checked", context, order_by="order_id, 7")
    assert [(r[1], r[6], r[7], r[8]) for r in got] == [
        ("1", "exact duplicate of an earlier row", "2024-01-03 00:00:00", "1 x 5"),
        ("1", "exact duplicate of an earlier row", "2024-01-03 00:00:00", "1 x 5"),
        ("1", None, None, None),
        ("2", None, None, None),
        ("3", None, None, None),
        # identical rejected lines keep their own reason, every one of them
        ("9", "amount zero or negative", "2024-01-03 00:00:00", "1 x 5"),
        ("9", "amount zero or negative", "2024-01-03 00:00:00", "1 x 5"),
    ]
    # only A's day was set aside: B's line is usable without a second look
    assert db.execute("select customer_id, count(*) from cleaning.transactions_set_aside "
                      "group by all order by all").fetchall() == [("A", 6)]


def test_cleaning_line_groups_flags_every_group_that_may_hold_a_repeat(db, context):
    at = T(2024, 1, 3)
    staged(db, context, [("A", "1", at, Decimal("1"), 1, h)  # one order of five lines
                         for h in [1, 2, 3, 1 + 2 ** 18, 5]]
           + [("B", "1", at, Decimal("1"), 1, 2 + 2 ** 18 * k) for k in (1, 2)]
           + [("C", "1", at, Decimal("1"), 1, h) for h in (1 + 2 ** 6, 2, 3)])
    got = run(db, "cleaning.line_groups", context, order_by="customer_id")
    # A: five different hashes, one of which shares every map's bit with hash 1:
    # set aside and compared, no repeat; B: two hashes that differ only above the
    # maps' 18 bits: set aside too; C: the first map tells its three lines apart
    assert [(r[0], r[4], r[5], r[9]) for r in got] == [
        ("A", 5, Decimal("5"), True), ("B", 2, Decimal("2"), True),
        ("C", 3, Decimal("3"), False)]
    assert run(db, "cleaning.transactions_checked", context,
               order_by="customer_id, order_id") == [
        (c, o, at, Decimal("1"), None, "UK", None, None, None)
        for c, o in [("A", "1")] * 5 + [("B", "1")] * 2 + [("C", "1")] * 3]


def test_cleaning_transactions_keeps_the_usable_lines(db, context):
    given(db, "cleaning.transactions_checked", CHECKED_INPUT, [
        ("A", "1", T(2024, 1, 3), Decimal("5"), None, "UK", None, None, None),
        ("B", "2", T(2024, 1, 4), Decimal("6"), None, "FR", "timestamp after the as-of date",
         "", ""),
    ])
    assert run(db, "cleaning.transactions", context) == [
        ("A", "1", T(2024, 1, 3), "UK", Decimal("5"))]


def test_cleaning_amount_rounding_counts_the_used_lines_rounded(db, context):
    day, later = T(2024, 1, 3), T(2024, 1, 9)
    repeated = ("A", "1", day, Decimal("5"), 1, 7, "rounded")
    staged(db, context, [
        repeated, repeated,  # one used, one duplicate: counted once
        ("A", "2", day, Decimal("6"), 1, 8, "float noise"),
        ("B", "3", day, Decimal("2.5"), 1, 9, "rounded"),
        ("B", "4", day, Decimal("0"), 1, 10, "rounded"),  # quarantined: zero
        ("B", "5", later, Decimal("2"), 1, 11, "rounded"),  # after the as-of date
        ("C", "6", day, Decimal("1"), 1, 12),
    ], as_of=D(2024, 1, 3))
    # the smallest source value rounded: quantity x unit price here
    assert run(db, "cleaning.amount_rounding", context) == [(4, 2, 1, "1 x 5")]


CUSTOMER_INPUT = ("customer_id varchar, birth_year double, birth_date date, age_given double, "
                  "income double, segment varchar, row_hash ubigint")


def test_cleaning_customers_checked_keeps_one_row_per_id(db, context):
    given(db, "staging.customers", CUSTOMER_INPUT, [
        ("A", 1990, None, None, 1.0, "gold", 2),
        ("A", 1991, None, None, 2.0, "gold", 1),
        (None, 1980, None, None, 3.0, None, 3),
    ])
    got = run(db, "cleaning.customers_checked", context, order_by="row_hash")
    assert [(r[0], r[1], r[7]) for r in got] == [
        ("A", 1991.0, None), ("A", 1990.0, "duplicate customer id"),
        (None, 1980.0, "missing customer id")]


def test_cleaning_customers_ages_and_impossible_ages(db, context):
    given(db, "cleaning.customers_checked", CUSTOMER_INPUT + ", quarantine_reason varchar", [
        ("A", 1990, None, None, 1.0, "gold", 1, None),
        ("B", None, D(2000, 6, 1), None, None, None, 2, None),
        ("C", 1893, None, None, None, None, 3, None),
        ("D", None, None, 33, None, None, 4, None),
        ("E", 1990, None, None, None, None, 5, "duplicate customer id"),
    ])
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 3),)])
    assert run(db, "cleaning.customers", context) == [
        ("A", 34.0, False, 1.0, "gold"),
        ("B", 24.0, False, None, None),  # calendar years, as date_diff('year') counts
        ("C", None, True, None, None),
        ("D", 33.0, False, None, None),
    ]


def test_cleaning_quarantine_lists_the_rejected_rows_of_both_sources(db, context):
    given(db, "cleaning.transactions_set_aside", CHECKED_INPUT, [
        ("A", "1", T(2024, 1, 3), Decimal("5"), None, "UK", None, None, None),
        (None, "2", T(2024, 1, 3), Decimal("5"), None, "UK", "missing customer id", "x", "5"),
    ])
    given(db, "cleaning.customers_checked", "customer_id varchar, quarantine_reason varchar",
          [("A", None), ("A", "duplicate customer id")])
    assert run(db, "cleaning.quarantine", context) == [
        ("customers", "duplicate customer id", "A", None, None, None),
        ("transactions", "missing customer id", None, "2", "x", "5"),
    ]


def test_cleaning_quarantine_reasons_is_a_fixed_list(db, context):
    got = run(db, "cleaning.quarantine_reasons", context, order_by="source, check_order")
    assert [(r[0], r[1]) for r in got] == [("customers", 1), ("customers", 2)] + [
        ("transactions", i) for i in range(1, 9)]


# -- features --------------------------------------------------------------------

def usable_lines(db, context, rows):
    """Usable lines from (customer, order, at, country, amount[, row hash])."""
    given(db, "staging.transactions", SCREEN_INPUT, [
        (c, o, at, str(at), amount, None, False, None, 1, "1", str(amount), False, country,
         extra[0] if extra else i + 100)
        for i, (c, o, at, country, amount, *extra) in enumerate(rows)])
    for name in ("cleaning.transactions_screened", "cleaning.line_groups"):
        create(db, name, context)


def test_cleaning_purchases_takes_repeats_and_days_after_the_as_of_date_out(db, context):
    usable_lines(db, context, [
        ("A", "1", T(2024, 1, 1, 9), "UK", Decimal("4.00")),
        ("A", "2", T(2024, 1, 1, 17), "FR", Decimal("6.00")),  # same day, another country
        ("A", "3", T(2024, 1, 8), "FR", Decimal("5.00")),
        ("A", "3", T(2024, 1, 8), "FR", Decimal("5.00"), 7),  # a repeat: used once
        ("A", "3", T(2024, 1, 8), "FR", Decimal("5.00"), 7),
        ("A", "4", T(2024, 1, 11), "UK", Decimal("9.00")),  # after the as-of date
        ("A", "4", T(2024, 1, 11), "UK", Decimal("9.00")),
        ("B", "4", T(2024, 1, 10), None, Decimal("1.25")),
    ])
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 10),)])
    create(db, "cleaning.transactions_set_aside", context)
    # an order id is mapped: a day is split by order, so orders count from here
    assert columns(db, "cleaning.purchases", context) == [
        "customer_id", "purchase_date", "order_id", "country", "n_lines", "amount"]
    assert run(db, "cleaning.purchases", context) == [
        ("A", D(2024, 1, 1), "1", "UK", 1, Decimal("4.0000")),
        ("A", D(2024, 1, 1), "2", "FR", 1, Decimal("6.0000")),
        ("A", D(2024, 1, 8), "3", "FR", 2, Decimal("10.0000")),  # 3 lines less 1 copy
        ("B", D(2024, 1, 10), "4", None, 1, Decimal("1.2500")),
    ]
    model = next(m for m in project.load_models() if m.name == "cleaning.purchases")
    assert db.execute(f"select distinct typeof(n_lines), typeof(amount) from "
                      f"({project.render(model, context)})").fetchall() == [
        ("BIGINT", "DECIMAL(38,4)")]


@pytest.mark.parametrize("frequency", ["days", "orders"])
@pytest.mark.parametrize("categorical", [True, False])
def test_cleaning_purchases_are_the_used_lines_grouped_by_purchase(db, context, frequency,
                                                                   categorical):
    """Exactly the rows of grouping cleaning.transactions (every line used) by the keys:
    the order (mapped here, whatever frequency counts) and the categorical columns."""
    shaped = {**context, "features": {**context["features"], "frequency": frequency},
              "transactions": {**context["transactions"],
                               "categorical": context["transactions"]["categorical"]
                               if categorical else []}}
    day, later = T(2024, 1, 3, 9), T(2024, 1, 9)
    repeated = ("A", "1", day, Decimal("5"), 1, 7)
    staged(db, shaped, [
        repeated, repeated, repeated,  # one used, two duplicates
        ("A", "1", day, Decimal("2.5"), 1, 8),  # the same order, another line
        ("A", "2", day, Decimal("6"), 1, 9),  # the same day, another order
        ("A", None, day, Decimal("1"), 1, 10),  # no order id
        ("A", None, day, Decimal("1"), 1, 10),  # ... repeated
        ("A", "3", day, Decimal("0"), 1, 11),  # rejected: zero
        ("A", "3", day, Decimal("0"), 1, 11),
        ("A", "4", later, Decimal("3"), 1, 12),  # after the as-of date
        ("A", "4", later, Decimal("3"), 1, 12),
        ("B", "5", T(2024, 1, 2), Decimal("4"), 1, 13),  # a day with no repeat
        ("B", "5", T(2024, 1, 2, 10), Decimal("4"), 1, 14),
        ("B", "6", T(2024, 1, 3), Decimal("-2"), -1, 15),  # a return
    ], as_of=D(2024, 1, 5))
    for name in ("cleaning.transactions_checked", "cleaning.transactions"):
        create(db, name, shaped)
    keys = "".join(f"{key}, " for key in ["order_id"] + (["country"] if categorical else []))
    grouped = db.execute(
        f"select customer_id, cast(ordered_at as date), {keys}count(*), sum(amount) "
        f"from cleaning.transactions group by all order by all").fetchall()
    assert run(db, "cleaning.purchases", shaped) == grouped
    assert len(grouped) == 4


PURCHASES_INPUT = ("customer_id varchar, purchase_date date, country varchar, "
                   "n_lines bigint, amount decimal(38,4)")


def given_purchases(con, columns: str, rows: list[tuple], context: dict) -> None:
    """``cleaning.purchases`` from literal rows, and ``features.customer_purchases`` over
    them (what customer_rfm reads), made as a build makes it: counting orders only when
    the rows have an order id."""
    given(con, "cleaning.purchases", columns, rows)
    has_order = "order_id" in [c[0] for c in con.execute("describe cleaning.purchases").fetchall()]
    shaped = {**context, "transactions": {**context["transactions"],
                                          "order_id": context["transactions"]["order_id"]
                                          if has_order else None}}
    model = next(m for m in project.load_models() if m.name == "features.customer_purchases")
    con.execute(f"create view features.customer_purchases as {project.render(model, shaped)}")


def test_features_customer_rfm_counts_days_and_averages_spend(db, context):
    given_purchases(db, PURCHASES_INPUT, [
        ("A", D(2024, 1, 1), "UK", 1, Decimal("4.00")),
        ("A", D(2024, 1, 1), "FR", 1, Decimal("6.00")),  # same day: one visit
        ("A", D(2024, 1, 8), "FR", 2, Decimal("10.00")),
        ("B", D(2024, 1, 10), None, 1, Decimal("1.25")),
    ], context)
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 10),)])
    got = run(db, "features.customer_rfm", context)
    assert [r[:6] for r in got] == [
        ("A", 2, 2, Decimal("10.00"), 9, "FR"),  # 20.00 over 2 days; FR on 3 lines
        ("B", 0, 1, Decimal("1.25"), 0, None),
    ]


def test_features_customer_rfm_without_other_keys_counts_each_purchase_as_a_day(db, context):
    # No order and no categorical: a purchase is a customer day
    plain = {**context, "transactions": {**context["transactions"], "categorical": []}}
    given_purchases(db, "customer_id varchar, purchase_date date, "
                    "n_lines bigint, amount decimal(38,4)", [
                        ("A", D(2024, 1, 1), 2, Decimal("10.00")),
                        ("A", D(2024, 1, 8), 1, Decimal("5.00")),
                        ("B", D(2024, 1, 10), 1, Decimal("1.25")),
                    ], plain)
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 10),)])
    got = run(db, "features.customer_rfm", plain)
    assert [r[:5] for r in got] == [
        ("A", 2, 2, 7.5, 9),  # 15.00 over 2 days
        ("B", 0, 1, 1.25, 0),
    ]
    assert [r[-1] for r in got] == [Decimal("15.00"), Decimal("1.25")]


def test_features_customer_rfm_counts_orders_when_asked(db, context):
    orders = {**context, "features": {**context["features"], "frequency": "orders"}}
    given_purchases(db, "customer_id varchar, purchase_date date, order_id varchar, "
                    "country varchar, n_lines bigint, amount decimal(38,4)", [
                        ("A", D(2024, 1, 1), "1", "UK", 1, Decimal("4.00")),
                        # same day, two orders
                        ("A", D(2024, 1, 1), "2", "UK", 2, Decimal("4.00")),
                        # order 2 the next day
                        ("A", D(2024, 1, 2), "2", "FR", 3, Decimal("6.00")),
                        ("B", D(2024, 1, 10), "3", None, 1, Decimal("1.25")),
                    ], orders)
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 10),)])
    got = run(db, "features.customer_rfm", orders)
    assert [r[:6] for r in got] == [
        ("A", 8, 2, Decimal("7.00"), 9, "FR"),  # 14.00 over 2 orders; 3 lines each: FR first
        ("B", 0, 1, Decimal("1.25"), 0, None),
    ]


def test_features_customer_rfm_rounds_the_exact_average_half_up_once(db, context):
    plain = {**context, "transactions": {**context["transactions"], "categorical": []}}
    given_purchases(db, "customer_id varchar, purchase_date date, "
                    "n_lines bigint, amount decimal(38,4)", [
              (c, D(2024, 1, 1 + i), 1, amount) for c, amounts in [
                  # 653.01 over 2 days is 326.505: half-up 326.51 (a DOUBLE holds 326.50499...)
                  ("A", ["326.5", "326.51"]),
                  # 74.39 / 2 = 37.195 -> 37.20; 0.25 / 2 = 0.125 -> 0.13 (half-even: 0.12)
                  ("B", ["37", "37.39"]), ("C", ["0.1", "0.15"]),
                  # 20.0099 / 2 = 10.00495: below the half cent
                  ("D", ["10.0049", "10.005"]),
                  # 1 / 3 days = 0.3333...
                  ("E", ["0.3333", "0.3333", "0.3334"]),
              ] for i, amount in enumerate(Decimal(a) for a in amounts)], plain)
    given(db, "cleaning.as_of", "as_of_date date", [(D(2024, 1, 3),)])
    names = columns(db, "features.customer_rfm", plain)
    got = [dict(zip(names, r)) for r in run(db, "features.customer_rfm", plain)]
    assert [(r["customer_id"], r["monetary"], r["total_spend"]) for r in got] == [
        ("A", Decimal("326.51"), Decimal("653.0100")),
        ("B", Decimal("37.20"), Decimal("74.3900")),
        ("C", Decimal("0.13"), Decimal("0.2500")),
        ("D", Decimal("10.00"), Decimal("20.0099")),
        ("E", Decimal("0.33"), Decimal("1.0000")),
    ]
    sql = project.render(next(m for m in project.load_models()
                              if m.name == "features.customer_rfm"), plain)
    assert db.execute(f"select distinct typeof(monetary), typeof(total_spend) from ({sql})"
                      ).fetchall() == [("DECIMAL(38,2)", "DECIMAL(38,4)")]
    # money_decimals = 0 and monetary = "total"
    whole = {**plain, "features": {**plain["features"], "money_decimals": 0}}
    assert [r[3] for r in run(db, "features.customer_rfm", whole)] == [
        Decimal("327"), Decimal("37"), Decimal("0"), Decimal("10"), Decimal("0")]
    total = {**plain, "features": {**plain["features"], "monetary": "total"}}
    assert [r[3] for r in run(db, "features.customer_rfm", total)] == [
        r["total_spend"] for r in got]


def test_features_customer_features_raw_joins_attributes_to_buyers(db, context):
    given(db, "features.customer_rfm", "customer_id varchar, recency_days bigint, "
          "frequency bigint, monetary decimal(18,2), tenure_days bigint, country varchar", [
              ("A", 2, 2, Decimal("7.50"), 9, "FR"), ("Z", 1, 1, Decimal("1"), 1, None)])
    given(db, "cleaning.customers", "customer_id varchar, age double, "
          "is_age_impossible boolean, income double, segment varchar", [
              ("A", 34.0, False, 50000.0, "gold"), ("B", 24.0, False, None, None)])
    assert run(db, "features.customer_features_raw", context) == [
        ("A", 2.0, 2.0, 7.5, 9.0, "FR", 34.0, 50000.0, "gold"),
        ("Z", 1.0, 1.0, 1.0, 1.0, None, None, None, None),  # bought, not in the customers table
    ]


RAW = ("customer_id varchar, recency_days double, frequency double, monetary double, "
       "tenure_days double, country varchar, age double, income double, segment varchar")


def _raw_rows():
    return [(f"c{i}", float(i), 1.0, float(i * 10), float(i), "UK", 30.0 + i,
             None if i == 0 else float(i), None) for i in range(10)]


def test_features_numeric_bounds_imputes_with_the_median_and_caps_at_quantiles(db, context):
    given(db, "features.customer_features_raw", RAW, _raw_rows())
    got = run(db, "features.numeric_bounds", context)
    names = columns(db, "features.numeric_bounds", context)
    row = dict(zip(names, got[0]))
    assert row["monetary__impute"] == 45.0  # median of 0, 10, ..., 90
    assert (row["monetary__low"], row["monetary__high"]) == (0.0, 90.0)  # 1% and 99%
    assert row["income__impute"] == 5.0  # median of the 9 known values


def _bounds(db, context):
    given(db, "features.customer_features_raw", RAW, _raw_rows())
    bounds = project.render(next(m for m in project.load_models()
                                 if m.name == "features.numeric_bounds"), context)
    db.execute(f"create table features.numeric_bounds as {bounds}")
    db.execute("update features.numeric_bounds set monetary__high = 50, monetary__low = 5")


def test_features_customer_features_imputes_caps_and_one_hot_encodes(db, context):
    _bounds(db, context)
    levels = {**context, "categorical_features": [
        {**c, "levels": [{"value": "'UK'", "column": '"is_country_uk"', "plain": "is_country_uk"}]}
        if c["plain"] == "country" else c for c in context["categorical_features"]]}
    names = columns(db, "features.customer_features", levels)
    got = {r[0]: dict(zip(names, r)) for r in run(db, "features.customer_features", levels)}
    assert got["c0"]["monetary"] == 5.0 and got["c9"]["monetary"] == 50.0  # capped
    assert got["c5"]["monetary"] == 50.0 and got["c3"]["monetary"] == 30.0
    assert got["c0"]["income"] == 5.0  # imputed with the median
    assert got["c3"]["recency_days"] == 3.0  # days are not capped
    assert (got["c1"]["is_country_uk"], got["c1"]["is_country_other"],
            got["c1"]["is_segment_unknown"]) == (1, 0, 1)


def test_features_customer_features_remove_drops_customers_outside_the_caps(db, context):
    _bounds(db, context)
    got = run(db, "features.customer_features", {**context, "outliers": "remove"})
    assert [r[0] for r in got] == ["c1", "c2", "c3", "c4", "c5"]


def test_features_column_quality_counts_what_was_touched(db, context):
    _bounds(db, context)
    got = {r[0]: r for r in run(db, "features.column_quality", context)}
    assert got["monetary"][1:6] == ("numeric", 0, 1, 4, 0)  # 0 below 5; 60..90 above 50
    assert got["income"][2] == 1  # one imputed
    assert got["segment"][1:3] == ("categorical", 10)


# -- segments --------------------------------------------------------------------

RUNS = "run_id varchar, started_at timestamp, finished_at timestamp, status varchar, " \
       "k integer, silhouette double, customers bigint, model_version varchar"


def _runs(db):
    given(db, "meta.runs", RUNS, [
        ("r1", T(2024, 1, 1), T(2024, 1, 1, 1), "success", 3, 0.5, 10, "1"),
        ("r2", T(2024, 1, 2), T(2024, 1, 2, 1), "success", 4, 0.6, 11, "2"),
        ("r3", T(2024, 1, 3), T(2024, 1, 3, 1), "failed", None, None, None, None),
        ("r4", T(2024, 1, 4), None, "running", None, None, None, None),
    ])


def test_segments_successful_runs_latest_and_previous(db, context):
    _runs(db)
    got = run(db, "segments.successful_runs", context, order_by="run_number")
    assert [(r[0], r[7], r[8]) for r in got] == [("r2", 1, "r1"), ("r1", 2, None)]
    db.execute("create view segments.successful_runs as "
               + project.render_model("segments.successful_runs", context))
    assert run(db, "segments.latest_run", context) == [
        ("r2", T(2024, 1, 2, 1), 4, 0.6, 11, "2")]
    assert run(db, "segments.previous_run", context) == [("r1",)]


HISTORY = ("run_id varchar, customer_id varchar, segment_id integer, segment_name varchar, "
           "distance_to_centroid double, bins double[]")
# with the columns that look back (tests/customers/ builds them)
HISTORY_LOOKING_BACK = (HISTORY + ", previous_segment_id integer, previous_segment_name "
                        "varchar, segment_since date, r_score integer, f_score integer, "
                        "m_score integer, rfm_group varchar")


def test_segments_customer_segments_shows_the_latest_run_with_bins(db, context):
    given(db, "segments.latest_run", "run_id varchar", [("r2",)])
    given(db, "segments.segment_history", HISTORY_LOOKING_BACK, [
        ("r1", "a", 1, "Old", 0.0, [0.0, 0.0], None, None, dt.date(2024, 1, 31), 1, 1, 2,
         "Dormant"),
        ("r2", "a", 2, "New", 0.5, [1.0, 3.0], 1, "Old", dt.date(2024, 2, 29), 5, 4, 3,
         "Active"),
    ])
    assert run(db, "segments.customer_segments", context) == [
        ("a", 2, "New", "r2", 1.0, 3.0, 0.5, 1, "Old", dt.date(2024, 2, 29), 5, 4, 3,
         "Active")]
    assert columns(db, "segments.customer_segments", context)[4:6] == [
        "recency_days_bin", "monetary_bin"]


@pytest.mark.parametrize("name, table, columns_sql, row", [
    ("segments.model_selection", "segments.selection_history",
     "run_id varchar, k integer, is_chosen boolean", (4, True)),
    ("segments.bin_edges", "segments.bin_edge_history",
     "run_id varchar, feature varchar, bin integer, lower double", ("x", 1, 2.5)),
    ("segments.centroids", "segments.centroid_history",
     "run_id varchar, segment_id integer, feature varchar, centroid double", (1, "x", 0.5)),
    ("segments.tsne_map", "segments.tsne_history",
     "run_id varchar, customer_id varchar, x double, y double", ("a", 1.0, 2.0)),
    ("segments.segment_profiles", "segments.profile_history",
     "run_id varchar, segment_id integer, feature varchar, mean double", (1, "x", 3.0)),
])
def test_segments_current_views_show_only_the_latest_run(db, context, name, table,
                                                         columns_sql, row):
    given(db, "segments.latest_run", "run_id varchar", [("r2",)])
    given(db, table, columns_sql, [("r1", *row), ("r2", *row)])
    assert run(db, name, context) == [("r2", *row)]


def test_segments_migration_counts_moves_between_two_runs(db, context):
    given(db, "segments.latest_run", "run_id varchar", [("r2",)])
    given(db, "segments.previous_run", "run_id varchar", [("r1",)])
    given(db, "segments.segment_history", HISTORY, [
        ("r1", "a", 1, "One", 0, None), ("r1", "b", 1, "One", 0, None),
        ("r1", "c", 2, "Two", 0, None),
        ("r2", "a", 1, "One", 0, None), ("r2", "b", 2, "Two", 0, None),
        ("r2", "d", 2, "Two", 0, None),
    ])
    expected = [(1, "One", 1, "One", 1), (1, "One", 2, "Two", 1), (2, "Two", None, None, 1),
                (None, None, 2, "Two", 1)]
    model = next(m for m in project.load_models() if m.name == "segments.migration")
    sql = project.render(model, context)
    assert db.execute(sql).fetchall() == expected  # the model's own order: new/gone last
    # the same query for any two runs, as the report uses it
    assert run(db, "segments.migration", context, order_by="all nulls last",
               from_run_id="'r2'", to_run_id="'r1'") == [
        (1, "One", 1, "One", 1), (2, "Two", 1, "One", 1), (2, "Two", None, None, 1),
        (None, None, 2, "Two", 1)]


def test_segments_migration_is_empty_before_a_second_build(db, context):
    given(db, "segments.latest_run", "run_id varchar", [("r1",)])
    given(db, "segments.previous_run", "run_id varchar", [])
    given(db, "segments.segment_history", HISTORY, [("r1", "a", 1, "One", 0, None)])
    assert run(db, "segments.migration", context) == []


def test_segments_live_segments_bins_with_edges_and_takes_the_nearest_centroid(db, context):
    given(db, "features.live_customer_features",
          "customer_id varchar, recency_days double, monetary double", [
              ("a", 5.0, 100.0),   # bins (1, 1)
              ("b", 50.0, 5.0),    # bins (2, 0)
              ("c", 10.0, 20.0),   # on the edges: a value equal to an edge is in the upper bin
          ])
    given(db, "segments.bin_edges", "feature varchar, bin integer, lower double, upper double", [
        ("recency_days", 0, 0, 10), ("recency_days", 1, 10, 30), ("recency_days", 2, 30, 99),
        ("monetary", 0, 0, 20), ("monetary", 1, 20, 999),
    ])
    given(db, "segments.centroids", "segment_id integer, segment_index integer, "
          "segment_name varchar, feature varchar, centroid double", [
              (7, 0, "Seven", "recency_days", 0.0), (7, 0, "Seven", "monetary", 1.0),
              (3, 1, "Three", "recency_days", 2.0), (3, 1, "Three", "monetary", 0.0),
          ])
    got = run(db, "segments.live_segments", context)
    # a: bins (0, 1) -> Seven at 0; b: (2, 0) -> Three at 0; c: (1, 1) -> tie at sqrt 2,
    # the lower segment_index wins
    assert [(r[0], r[1], r[2], round(r[3], 6)) for r in got] == [
        ("a", 7, "Seven", 0.0), ("b", 3, "Three", 0.0), ("c", 7, "Seven", 1.0)]


def test_every_model_has_a_unit_test_here():
    tested = {"staging.transactions", "staging.customers", "cleaning.transactions_screened",
              "cleaning.line_groups", "cleaning.transactions_set_aside",
              "cleaning.as_of", "cleaning.transactions_checked", "cleaning.transactions",
              "cleaning.customers_checked", "cleaning.customers", "cleaning.quarantine",
              "cleaning.amount_rounding", "cleaning.purchases",
              "cleaning.quarantine_reasons", "features.customer_rfm",
              "features.customer_features_raw", "features.numeric_bounds",
              "features.customer_features", "features.column_quality",
              "features.customer_scores",  # tests/sql/test_customer_scores.py
              "segments.successful_runs", "segments.latest_run", "segments.previous_run",
              "segments.customer_segments", "segments.model_selection", "segments.bin_edges",
              "segments.centroids", "segments.tsne_map", "segments.segment_profiles",
              "segments.migration", "segments.live_segments",
              # tests/sql/test_worth_models.py
              "features.customer_purchases", "segments.segment_kpis", "segments.backtest"}
    assert {m.name for m in project.load_models()} == tested
