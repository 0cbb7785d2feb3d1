"""The text macros take shortcuts for speed; they must give the plain definitions' values.

`as_text` skips DuckDB's trim() on text that is all ASCII without a space, and
`normalize_id` runs its regular expression only on ids that hold a dot. Every
source value must come out exactly as `nullif(trim(x), '')` and the unguarded
float-id rule give it, or ids, labels and row counts would change.
"""

from __future__ import annotations

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
