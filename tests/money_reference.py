"""Money as the standard library computes it: the reference every engine is held to.

Each line's amount half-up to the decimals kept, summed exactly per customer and
purchase day, the average per day rounded half-up once (Python's ``decimal``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Callable

from tests.conftest import TEST_DATA

# Real lines of the online retail export (25 customers, 44 invoices; amounts as a
# float column wrote them, "15.299999999999999"), and the same lines priced in
# euros to 4 decimals with hand-made half-cent ties (tests/data/README.md).
RETAIL = TEST_DATA / "online_retail_lines.csv"
RETAIL_EUR = TEST_DATA / "online_retail_eur.csv"


def eur_parquet(folder: Path) -> Path:
    """online_retail_eur.csv as Parquet, its money as a DOUBLE column holds it (an
    integer quantity; prices and amounts are doubles, read by their shortest text)."""
    import duckdb

    path = folder / "online_retail_eur.parquet"
    duckdb.sql(f"""
        copy (select * replace (cast(Quantity as bigint) as Quantity,
                                cast(UnitPriceEUR as double) as UnitPriceEUR,
                                cast(AmountEUR as double) as AmountEUR)
              from read_csv('{RETAIL_EUR}', all_varchar = true))
        to '{path}' (format parquet)""")
    return path


def half_up(value: Decimal, digits: int) -> Decimal:
    """``value`` rounded half away from zero (half-up for amounts) to ``digits`` decimals."""
    return value.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)


def spend_per_day(path: Path, amount: Callable[[dict], Decimal], *, customer="CustomerID",
                  day="InvoiceDate", decimals: int = 4,
                  by_order: bool = True) -> dict[str, dict[str, Decimal]]:
    """customer -> day -> spend of the usable lines: each line's amount (``amount(row)``)
    half-up to ``decimals`` and positive; with an order id mapped (``by_order``),
    exact repeats of a whole line counted once."""
    days: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    seen = set()
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if by_order and tuple(row.values()) in seen:
                continue
            seen.add(tuple(row.values()))
            value = half_up(amount(row), decimals)
            if value > 0:
                days[row[customer].removesuffix(".0")][row[day][:10]] += value
    return days


def expected_money(days, money_decimals: int = 2) -> dict[str, tuple[Decimal, Decimal]]:
    """customer -> (total spend, ROUND_HALF_UP(total / purchase days, money_decimals))."""
    with localcontext() as context:
        context.prec = 60
        return {c: (sum(d.values()), half_up(sum(d.values()) / len(d), money_decimals))
                for c, d in days.items()}


def demo_money() -> dict[str, tuple[Decimal, Decimal]]:
    """The bundled CDNOW demo's money per customer (no order id: repeats are purchases)."""
    from segkit.config import DEMO_DATA

    return expected_money(spend_per_day(
        DEMO_DATA, lambda row: Decimal(row["dollar_value"]), customer="customer_id",
        day="purchase_date", by_order=False))
