"""``segkit init --source``: a source's columns read, and the mapping they suggest.

Names and values are both looked at: a column called like a customer id, a
date or timestamp column (a text column gets the first strptime format that
reads every sampled value), an amount (or a quantity and a unit price), an
order id, and text columns with few distinct values as candidate categoricals.
Every guess carries a comment saying why, and the columns not recognised are
listed, so the first build needs no hand-written mapping and the user sees
what to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from segkit.project import quote_ident
from segkit.sources.base import OpenSource

SAMPLE_ROWS = 2000
_CUSTOMER = re.compile(r"(customer|cust|client|user|member|buyer|account|shopper)"
                       r"[ _-]?(id|no|number|key|code)?$|^(customerid|custid|clientid)$", re.I)
_ORDER = re.compile(r"(order|invoice|transaction|receipt|basket|ticket)[ _-]?(id|no|number|key)?$",
                    re.I)
_TIMESTAMP = re.compile(r"(date|time|timestamp|_at|^at|day|ordered|purchased)$", re.I)
_AMOUNT = re.compile(r"^(amount|revenue|total|sales|value|spend|sum|line_?total|net|gross|"
                     r"turnover|dollar_value)|(amount|revenue|total|sales|value|spend)$", re.I)
_QUANTITY = re.compile(r"(quantity|qty|units|count|pieces)$", re.I)
_UNIT_PRICE = re.compile(r"(unit[ _-]?price|price|unitcost|price_each)$", re.I)
# tried in this order; the first that reads every sampled value wins
FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M",
           "%m/%d/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%d/%m/%y",
           "%m/%d/%y")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")
_NUMERIC = re.compile(r"(DECIMAL|DOUBLE|FLOAT|REAL|INTEGER|BIGINT|SMALLINT|TINYINT|HUGEINT)")


@dataclass
class Guess:
    """The mapping read from a source: key -> (value, why), and the columns left over."""

    mapping: dict[str, tuple[object, str]] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)


def guess_mapping(con, opened: OpenSource) -> Guess:
    """The ``[transactions]`` mapping the columns of ``opened`` suggest."""
    columns = [(r[0], r[1]) for r in
               con.execute(f"describe select * from {opened.read}").fetchall()]
    con.execute(f"create or replace temp table init_sample as select * from {opened.read} "
                f"limit {SAMPLE_ROWS}")
    guess = Guess(columns=columns)
    used: set[str] = set()

    def take(key, column, why, value=None):
        guess.mapping[key] = (column if value is None else value, why)
        used.add(column)

    def first(pattern, wanted=lambda c, t: True):
        return next((c for c, t in columns if c not in used and pattern.search(c)
                     and wanted(c, t)), None)

    customer = first(_CUSTOMER)
    if customer:
        take("customer_id", customer, "named like a customer id")
    order = first(_ORDER)
    timestamp = next((c for c, t in columns if c not in used and c != order
                      and t.upper() in _TEMPORAL), None)
    if timestamp:
        take("timestamp", timestamp, f"a {columns_type(columns, timestamp).lower()} column")
    else:
        for column in [c for c, t in columns if c not in used and _TIMESTAMP.search(c)]:
            if _reads_as(con, column, "timestamp"):
                take("timestamp", column, "named like a date; every sampled value is an ISO "
                     "date or timestamp")
                break
            found = _date_format(con, column)
            if found:
                take("timestamp", column, "named like a date; every sampled value reads "
                     f"as {found}")
                guess.mapping["timestamp_format"] = (found, "the format those values have")
                break
    if order:
        take("order_id", order, "named like an order id (enables de-duplication)")
    numeric = lambda c, t: bool(_NUMERIC.search(t.upper())) or _reads_as_number(con, c)  # noqa: E731
    amount = first(_AMOUNT, numeric)
    if amount:
        take("amount", amount, "named like an amount, and numeric")
    else:
        quantity, price = first(_QUANTITY, numeric), first(_UNIT_PRICE, numeric)
        if quantity and price:
            take("quantity", quantity, "named like a quantity; amount = quantity x unit price")
            take("unit_price", price, "named like a unit price")
    categorical = [c for c, t in columns if c not in used and not _NUMERIC.search(t.upper())
                   and not _reads_as_number(con, c) and 2 <= _distinct(con, c) <= 50]
    if categorical:
        guess.mapping["categorical"] = (
            categorical, "text with 2 to 50 distinct values in the sample: candidates, "
            "keep the ones that describe a customer")
        used.update(categorical)
    guess.unrecognised = [c for c, _ in columns if c not in used]
    return guess


def columns_type(columns, name) -> str:
    return dict(columns)[name]


def _date_format(con, column: str) -> str | None:
    name = quote_ident(column)
    for fmt in FORMATS:
        bad, good = con.execute(
            f"select count(*) filter (where try_strptime(trim(cast({name} as varchar)), ?) "
            f"is null), count(*) from init_sample where {name} is not null", [fmt]).fetchone()
        if good and not bad:
            return fmt
    return None


def _reads_as(con, column: str, kind: str) -> bool:
    name = quote_ident(column)
    bad, good = con.execute(
        f"select count(*) filter (where try_cast(trim(cast({name} as varchar)) as {kind}) "
        f"is null), count(*) from init_sample where {name} is not null").fetchone()
    return bool(good) and not bad


def _reads_as_number(con, column: str) -> bool:
    return _reads_as(con, column, "double")


def _distinct(con, column: str) -> int:
    return con.execute(f"select count(distinct {quote_ident(column)}) from init_sample"
                       ).fetchone()[0]


def _toml(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value)
    if "\n" in text or '"' in text:
        return '"""\n' + text.replace("\\", "\\\\") + '\n"""'
    return '"' + text.replace("\\", "\\\\") + '"'


def config_text(source_keys: dict[str, str], guess: Guess, label: str) -> str:
    """A ``segkit.toml`` with the source, the mapping guessed and a comment on each guess."""
    lines = [f"# segkit configuration written by `segkit init --source` from {label}.",
             "# Each mapping below is a guess, with the reason beside it: check them, then run",
             "# `python -m segkit build`. Relative paths are resolved against this file's folder.",
             "# Every other section and key: `python -m segkit init other.toml` writes them all.",
             "",
             'warehouse = "warehouse/segkit.duckdb"',
             'reports_dir = "reports"',
             "",
             "[transactions]"]
    for key, value in source_keys.items():
        lines.append(f"{key} = {_toml(value)}")
    order = ("customer_id", "timestamp", "timestamp_format", "amount", "quantity",
             "unit_price", "order_id", "categorical")
    for key in order:
        if key in guess.mapping:
            value, why = guess.mapping[key]
            lines.append(f"{key} = {_toml(value)}  # {why}")
    for key, what in (("customer_id", "the customer id"), ("timestamp", "the purchase time")):
        if key not in guess.mapping:
            lines.append(f'# {key} = "..."  # not recognised: name the column with {what}')
    if not {"amount", "quantity"} & set(guess.mapping):
        lines.append('# amount = "..."  # not recognised: the money column (or quantity '
                     "and unit_price)")
    if guess.unrecognised:
        lines.append("# Columns not used: " + ", ".join(guess.unrecognised))
    return "\n".join(lines) + "\n"


def unreadable(exc: duckdb.Error) -> str:
    return str(exc).strip().splitlines()[0]
