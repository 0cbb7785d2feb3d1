"""The dialect macros against plain definitions.

The text macros take shortcuts for speed; they must give the plain definitions'
values. `as_text` skips DuckDB's trim() on text that is all ASCII without a
space, and `normalize_id` runs its regular expression only on ids that hold a
dot. Every source value must come out exactly as `nullif(trim(x), '')` and the
unguarded float-id rule give it, or ids, labels and row counts would change.

`round_quotient` must be the exact quotient rounded half-up once, as Python's
decimal module computes it (tests/test_spark_money.py holds Spark to the same).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segkit import project

PLAIN_TEXT = "nullif(trim(cast(x as varchar)), '')"
PLAIN_ID = ("case when regexp_full_match(t, '[0-9]+[.]0+') "
            "then regexp_replace(t, '[.]0+$', '') else t end")

# Every Unicode space separator DuckDB's trim() removes, the whitespace it keeps,
# and characters around them.
SPACES = [" ", "\u00a0", "\u1680", "\u2000", "\u200a", "\u202f", "\u205f", "\u3000",
          "\t", "\n", "\r", "\u0085", "\u200b", "\u2028", "\ufeff"]
CASES = ["", " ", "  ", "17850", "17850.0", " 17850.00 ", "17850.", ".0", "1.5", "1.50",
         "a b", " a", "a ", "C0000047", "é", " é ", "日本", "0.0", "00.000", "1e5", "17850.0x",
         *[s + "x" for s in SPACES], *["x" + s for s in SPACES], *[s + "1.0" + s for s in SPACES],
         *SPACES, None]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    con = duckdb.connect(str(tmp_path_factory.mktemp("macros") / "macros.duckdb"))
    yield con
    con.close()


def compare(con, values: list[str | None]) -> None:
    m = project.macros("duckdb")
    fast_text = str(m["as_text"]("x"))
    fast_id = str(m["normalize_id"]("t"))
    rows = con.execute(f"""
        select x, {fast_text} as fast, {PLAIN_TEXT} as plain
        from unnest(?::varchar[]) as v(x)
    """, [values]).fetchall()
    assert [r[1] for r in rows] == [r[2] for r in rows], [r for r in rows if r[1] != r[2]]
    rows = con.execute(f"""
        select t, fast, plain from (
            select t, {fast_id} as fast, {PLAIN_ID} as plain
            from (select {PLAIN_TEXT} as t from unnest(?::varchar[]) as v(x)))
    """, [values]).fetchall()
    assert [r[1] for r in rows] == [r[2] for r in rows], [r for r in rows if r[1] != r[2]]


def test_text_and_id_macros_give_the_plain_definitions_values(con):
    compare(con, CASES)


def test_as_text_casts_non_text_columns_like_the_plain_definition(con):
    m = project.macros("duckdb")
    got = con.execute(f"""
        select {m['as_text']('x')}, {PLAIN_TEXT}
        from (values (17850.0::double), (-1.5::double), (null::double)) as v(x)
    """).fetchall()
    assert [r[0] for r in got] == [r[1] for r in got] == ["17850.0", "-1.5", None]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(
    ["1", "7", "0", ".", "a", "C", "-", "é", "日", *SPACES]), max_size=8), max_size=30))
def test_text_and_id_macros_hold_on_any_text(con, values):
    compare(con, values)


# -- money ----------------------------------------------------------------------

def half_up(numerator: Decimal, denominator: int, digits: int) -> Decimal:
    """numerator / denominator rounded half away from zero, by Python's decimal."""
    with localcontext() as context:
        context.prec = 100
        return (numerator / denominator).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)


@st.composite
def quotients(draw):
    """(digits, scale, [(numerator, denominator), ...]): money below 10^24 with
    ``scale`` decimals over counts; about half of them exact ties at ``digits``."""
    scale = draw(st.integers(0, 12))
    digits = draw(st.integers(0, 12))
    pairs = []
    for _ in range(draw(st.integers(1, 20))):
        denominator = draw(st.one_of(st.integers(1, 10), st.integers(1, 10**12)))
        with localcontext() as context:
            context.prec = 100
            # k + 1/2 units of the last digit kept, times the denominator: a tie
            numerator = ((Decimal(draw(st.integers(0, 10**10))) + Decimal("0.5"))
                         * denominator * Decimal(1).scaleb(-digits))
            if (not draw(st.booleans()) or numerator >= 10**24
                    or numerator != numerator.quantize(Decimal(1).scaleb(-scale))):
                numerator = Decimal(draw(st.integers(0, 10**(24 + scale) - 1))).scaleb(-scale)
        pairs.append((-numerator if draw(st.booleans()) else numerator, denominator))
    return digits, scale, pairs


@settings(max_examples=150, deadline=None)
@given(quotients())
def test_round_quotient_is_the_exact_quotient_rounded_half_up_once(con, case):
    digits, scale, pairs = case
    macro = project.macros("duckdb")["round_quotient"]
    rows = con.execute(f"""
        select {macro('n', 'd', digits, scale)} as q, typeof(q)
        from (select unnest(?::decimal(38, {scale})[]) as n, unnest(?::bigint[]) as d,
                     unnest(range(?)) as i)
        order by i
    """, [[str(n) for n, _ in pairs], [d for _, d in pairs], len(pairs)]).fetchall()
    expected = [(half_up(n, d, digits), f"DECIMAL(38,{digits})") for n, d in pairs]
    assert rows == expected


def test_round_quotient_rounds_the_demos_half_cents_up(con):
    macro = project.macros("duckdb")["round_quotient"]
    got = con.execute(f"""
        select {macro('n', 'd', 2, 4)}
        from (values (653.01::decimal(38, 4), 2), (74.39, 2), (0.25, 2), (2.675, 1),
                     (20.0099, 2), (-653.01, 2)) as v(n, d)
    """).fetchall()
    assert [r[0] for r in got] == [Decimal("326.51"), Decimal("37.20"), Decimal("0.13"),
                                   Decimal("2.68"), Decimal("10.00"), Decimal("-326.51")]
    # what round(n / d, 2) gives: DuckDB divides as a DOUBLE, 326.50499...
    assert con.execute("select round(653.01::decimal(38, 4) / 2, 2)").fetchall() == [(326.5,)]
