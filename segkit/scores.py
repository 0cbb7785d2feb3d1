"""RFM scores and groups: the vocabularies marketers use, and a user's own grid, checked.

Every customer with a purchase gets an R, an F and an M score from 1 (worst) to
the vocabulary's number of levels (best; recency inverted: the most recent
score highest), from quantile cuts of their own in
``sql/features/customer_scores.sql``, and one RFM group. (``segkit.scoring`` is
another job: assigning new customers to a build's segments.)

A vocabulary is a number of levels and an ordered list of groups, each a name
and a condition on ``r``, ``f`` and ``m``. Shopify's and Klaviyo's are data
below; a user writes their own in segkit.toml::

    [scores]
    levels = 5
    groups = { Champions = "r >= 4 and (f + m) / 2 >= 4", Others = "r < 4 or (f + m) / 2 < 4" }

A condition may use ``r``, ``f``, ``m``, numbers, ``+ - * /``, comparisons
(``= <> != < <= > >=``, ``between``, ``in``), ``and``, ``or``, ``not`` and
parentheses; nothing else parses. Before any SQL runs, the groups are evaluated
on every cell of levels^3 scores: each cell must fall in exactly one group, or a
ConfigError names the cells left out and those claimed twice (overlapping rules
that leave a group empty, rsquaredacademy/rfm issue #56, cannot pass). The SQL
is written from the parsed condition, never from the text, so a condition
cannot carry anything else into a query.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

from segkit.errors import ConfigError


@dataclass(frozen=True)
class Vocabulary:
    """A named set of RFM groups over scores 1..levels (conditions as users write them)."""

    name: str
    levels: int
    groups: tuple  # of (group name, condition)
    source: str


# Shopify's RFM customer analysis (Shopify Help Center, "RFM customer analysis";
# Shopify Admin API, enum CustomerRfmGroup): scores 1-5 by quintile of the store's
# customers, 11 groups placed on R against FM = (F + M) / 2. The ten with orders:
# Champions (very recent, many orders, most spend), Loyal (recent, many orders,
# most spend), Active (recent, some orders, moderate spend), New (very recent,
# few orders, low spend), Promising (recent, few orders, low spend), Needs
# attention, Almost lost (not recent, fewer orders, lower spend), At risk (not
# recent, strong history), Previously loyal (not recent, very strong history),
# Dormant (not recent, infrequent, low spend); the eleventh, Prospects, has no
# orders and so no scores (features.customer_rfm holds buyers only).
# The cell ranges of Shopify's own table could not be checked here; the grid
# below is segkit's reading of those descriptions, on FM's half steps:
#
#   R \ FM      1 - 2          2.5 - 3.5          4 - 5
#   5           New            Active             Champions
#   4           Promising      Active             Loyal
#   3           Almost lost    Needs attention    Loyal
#   2           Almost lost    At risk            Previously loyal
#   1           Dormant        At risk            Previously loyal
SHOPIFY = Vocabulary("shopify", 5, (
    ("Champions", "r = 5 and (f + m) / 2 >= 4"),
    ("Loyal", "r between 3 and 4 and (f + m) / 2 >= 4"),
    ("Active", "r >= 4 and (f + m) / 2 between 2.5 and 3.5"),
    ("New", "r = 5 and (f + m) / 2 <= 2"),
    ("Promising", "r = 4 and (f + m) / 2 <= 2"),
    ("Needs attention", "r = 3 and (f + m) / 2 between 2.5 and 3.5"),
    ("Almost lost", "r between 2 and 3 and (f + m) / 2 <= 2"),
    ("At risk", "r <= 2 and (f + m) / 2 between 2.5 and 3.5"),
    ("Previously loyal", "r <= 2 and (f + m) / 2 >= 4"),
    ("Dormant", "r = 1 and (f + m) / 2 <= 2"),
), "Shopify Help Center, RFM customer analysis; Admin API enum CustomerRfmGroup")

# Klaviyo's RFM analysis (Klaviyo Help Center, "Understanding scoring and customer
# groups in the RFM report"; Klaviyo Academy, "Identify key customer cohorts with
# the RFM analysis"): scores 1-3 from the customer's percentile, 333 the best
# customers and 111 the least engaged, six groups: Champions (recent, frequent,
# highest historical value), Loyal (scores 321, 322, 331, 232 and 233, as the
# help page lists them), Recent (a recent purchase, not frequent), Needs
# attention, At risk, Inactive. Cells beyond Loyal's list are segkit's reading
# of the group descriptions:
#
#   Champions 323 332 333; Loyal 321 322 331 232 233; Recent 311 312 313;
#   Needs attention 211 212 213 221 222 223 231; At risk 113 122 123 131 132 133;
#   Inactive 111 112 121
KLAVIYO = Vocabulary("klaviyo", 3, (
    ("Champions", "r = 3 and f + m >= 5"),
    ("Loyal", "(r = 3 and f >= 2 and f + m <= 4) or (r = 2 and f = 3 and m >= 2)"),
    ("Recent", "r = 3 and f = 1"),
    ("Needs attention", "r = 2 and (f <= 2 or m = 1)"),
    ("At risk", "r = 1 and f + m >= 4"),
    ("Inactive", "r = 1 and f + m <= 3"),
), "Klaviyo Help Center, Understanding scoring and customer groups in the RFM report")

VOCABULARIES = {v.name: v for v in (SHOPIFY, KLAVIYO)}
DEFAULT_LEVELS = 5  # of a user's own grid without [scores] levels
MAX_LEVELS = 10


# -- conditions -----------------------------------------------------------------

_SQL_COLUMNS = {"r": "r_score", "f": "f_score", "m": "m_score"}
_ALLOWED = ("r, f, m, numbers, + - * /, comparisons (= <> != < <= > >=, between, in), "
            "and, or, not and parentheses")


def _parse(text, where):
    """The SQLGlot tree of a condition; ConfigError when it does not parse or steps outside."""
    import sqlglot

    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: a condition must be text such as \"r >= 4 and f >= 4\", "
                          f"got {text!r}.")
    try:
        tree = sqlglot.parse_one(text)
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"{where}: condition {text!r} does not parse "
                          f"({str(exc).splitlines()[0]}). Use {_ALLOWED}.") from None
    _check(tree, text, where, want="bool")
    return tree


def _check(node, text, where, want):
    """Walk the tree: only the allowed nodes, booleans where booleans belong."""
    from sqlglot import exp

    def fail(what):
        raise ConfigError(f"{where}: condition {text!r} {what}; a condition may use only "
                          f"{_ALLOWED}.")

    if isinstance(node, exp.Paren):
        return _check(node.this, text, where, want)
    logical = isinstance(node, (exp.And, exp.Or, exp.Not))
    comparison = isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
                                   exp.Between, exp.In))
    if want == "bool" and not (logical or comparison):
        fail(f"has {node.sql()!r} where a comparison belongs")
    if want == "number" and (logical or comparison):
        fail(f"has the comparison {node.sql()!r} where a number belongs")
    if isinstance(node, exp.Not):
        return _check(node.this, text, where, "bool")
    if isinstance(node, (exp.And, exp.Or)):
        _check(node.this, text, where, "bool")
        return _check(node.expression, text, where, "bool")
    if isinstance(node, exp.Between):
        for part in (node.this, node.args["low"], node.args["high"]):
            _check(part, text, where, "number")
        return None
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or not node.expressions:
            fail("has an 'in' that is not a list of numbers")
        for part in [node.this, *node.expressions]:
            _check(part, text, where, "number")
        return None
    if comparison or isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        _check(node.this, text, where, "number")
        return _check(node.expression, text, where, "number")
    if isinstance(node, exp.Neg):
        return _check(node.this, text, where, "number")
    if isinstance(node, exp.Column):
        if node.table or node.name.lower() not in _SQL_COLUMNS:
            fail(f"names {node.sql()!r}")
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            Decimal(node.this)
        except InvalidOperation:
            fail(f"has the number {node.this!r}")
        return None
    fail(f"has {node.sql()!r} ({type(node).__name__.lower()})")


def _evaluate(node, cells):
    """The condition's value on every cell: cells is a dict of r, f, m arrays (floats)."""
    from sqlglot import exp

    ev = lambda n: _evaluate(n, cells)  # noqa: E731
    if isinstance(node, exp.Paren):
        return ev(node.this)
    if isinstance(node, exp.Column):
        return cells[node.name.lower()]
    if isinstance(node, exp.Literal):
        return np.full_like(cells["r"], float(Decimal(node.this)))
    if isinstance(node, exp.Neg):
        return -ev(node.this)
    if isinstance(node, exp.Not):
        return ~ev(node.this)
    if isinstance(node, exp.Between):
        x = ev(node.this)
        return (x >= ev(node.args["low"])) & (x <= ev(node.args["high"]))
    if isinstance(node, exp.In):
        x = ev(node.this)
        return np.any([x == ev(e) for e in node.expressions], axis=0)
    a, b = ev(node.this), ev(node.expression)
    if isinstance(node, exp.Div) and np.any(b == 0):
        raise ZeroDivisionError(int(np.flatnonzero(b == 0)[0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {exp.And: np.logical_and, exp.Or: np.logical_or, exp.EQ: np.equal,
                exp.NEQ: np.not_equal, exp.GT: np.greater, exp.GTE: np.greater_equal,
                exp.LT: np.less, exp.LTE: np.less_equal, exp.Add: np.add,
                exp.Sub: np.subtract, exp.Mul: np.multiply, exp.Div: np.true_divide,
                }[type(node)](a, b)


def _sql(node):
    """SQL for DuckDB and Spark alike, written from the tree: columns, numbers, operators."""
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _sql(node.this)
    if isinstance(node, exp.Column):
        return _SQL_COLUMNS[node.name.lower()]
    if isinstance(node, exp.Literal):
        value = Decimal(node.this)
        # A fraction is a double in SQL as in the check (DuckDB reads 3.5 as a DECIMAL).
        return str(int(value)) if value == value.to_integral_value() and "." not in node.this \
            and "e" not in node.this.lower() else f"cast({value} as double)"
    if isinstance(node, exp.Neg):
        return f"(-{_sql(node.this)})"
    if isinstance(node, exp.Not):
        return f"(not {_sql(node.this)})"
    if isinstance(node, exp.Between):
        return (f"({_sql(node.this)} between {_sql(node.args['low'])} "
                f"and {_sql(node.args['high'])})")
    if isinstance(node, exp.In):
        return f"({_sql(node.this)} in ({', '.join(_sql(e) for e in node.expressions)}))"
    if isinstance(node, exp.Div):  # a double quotient on both engines, as in the check
        return f"(cast({_sql(node.this)} as double) / {_sql(node.expression)})"
    op = {exp.And: "and", exp.Or: "or", exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">",
          exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.Add: "+", exp.Sub: "-",
          exp.Mul: "*"}[type(node)]
    return f"({_sql(node.this)} {op} {_sql(node.expression)})"


# -- groups ----------------------------------------------------------------------

def score_cells(levels):
    """Every (r, f, m) score cell of 1..levels, r slowest."""
    return list(itertools.product(range(1, levels + 1), repeat=3))


def check_groups(groups, levels, *, where="[scores] groups"):
    """Parse the groups and check that every score cell falls in exactly one.

    Parameters
    ----------
    groups : sequence of (str, str) or dict of str -> str
        Group name and condition, in order.
    levels : int
        Scores run from 1 to ``levels``.
    where : str
        How messages name the setting.

    Returns
    -------
    list of (str, sqlglot.Expression)
        The groups with their parsed conditions.

    Raises
    ------
    ConfigError
        A name or condition is malformed, or cells are left out or claimed twice;
        the message names the cells by their (r, f, m) scores.
    """
    items = list(groups.items()) if isinstance(groups, dict) else list(groups)
    if not items:
        raise ConfigError(f"{where} is empty; name at least one group, e.g. "
                          f"Champions = \"r >= 4 and f >= 4\".")
    names = [name for name, _ in items]
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > 100 \
                or any(ord(ch) < 32 for ch in name):
            raise ConfigError(f"{where}: group name {name!r} must be text of 1 to 100 "
                              f"printable characters.")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: group names {twice} appear more than once.")
    parsed = [(name, _parse(cond, f"{where} {name!r}")) for name, cond in items]
    cells = np.array(score_cells(levels), dtype=float)
    values = {"r": cells[:, 0], "f": cells[:, 1], "m": cells[:, 2]}
    member = []  # groups x cells
    for name, tree in parsed:
        try:
            member.append(_evaluate(tree, values))
        except ZeroDivisionError as exc:
            raise ConfigError(f"{where} {name!r}: the condition divides by zero at scores "
                              f"{_cell(cells[exc.args[0]])} (r, f, m).") from None
    member = np.array(member)
    hits = member.sum(axis=0)
    problems = []
    if np.any(hits == 0):
        missing = [_cell(cells[i]) for i in np.flatnonzero(hits == 0)]
        problems.append(f"{len(missing)} of {len(cells)} score cells fall in no group: "
                        f"{_some(missing)}")
    if np.any(hits > 1):
        doubled = [f"{_cell(cells[i])} in " + " and ".join(
            repr(parsed[g][0]) for g in np.flatnonzero(member[:, i]))
            for i in np.flatnonzero(hits > 1)]
        problems.append(f"{len(doubled)} fall in more than one: {_some(doubled)}")
    if problems:
        raise ConfigError(f"{where} (scores 1 to {levels}, cells as (r, f, m)): "
                          + "; ".join(problems) + ". Each cell must belong to exactly one "
                          "group: widen or narrow the conditions.")
    return parsed


def _cell(row):
    return "(" + ", ".join(str(int(v)) for v in row) + ")"


def _some(items, limit=10):
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def resolve(groups="shopify", levels=None):
    """The levels and checked groups of a vocabulary name or of a user's table.

    Parameters
    ----------
    groups : {"shopify", "klaviyo"} or dict of str -> str, default="shopify"
        A vocabulary, or the user's own groups (name -> condition, in order).
    levels : int or None
        Only with the user's own groups (default 5): a vocabulary fixes its levels.

    Returns
    -------
    (int, list of (str, sqlglot.Expression))
    """
    if isinstance(groups, str):
        vocabulary = VOCABULARIES.get(groups)
        if vocabulary is None:
            raise ConfigError(f"[scores] groups = {groups!r}: use \"shopify\", \"klaviyo\" or a "
                              f"table of your own groups (name = \"condition\").")
        if levels is not None and levels != vocabulary.levels:
            raise ConfigError(f"[scores] levels = {levels!r}: the {vocabulary.name} groups are "
                              f"defined on scores 1 to {vocabulary.levels}; set levels only "
                              f"with your own groups.")
        return vocabulary.levels, check_groups(vocabulary.groups, vocabulary.levels,
                                               where=f"the {vocabulary.name} groups")
    levels = DEFAULT_LEVELS if levels is None else levels
    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= MAX_LEVELS:
        raise ConfigError(f"[scores] levels = {levels!r}: use an integer from 2 to {MAX_LEVELS}.")
    if not isinstance(groups, dict):
        raise ConfigError(f"[scores] groups: use \"shopify\", \"klaviyo\" or a table of "
                          f"name = \"condition\", got {groups!r}.")
    return levels, check_groups(groups, levels)


def group_of(r, f, m, groups="shopify", levels=None):
    """The group of one (r, f, m) score cell, as the SQL model assigns it."""
    levels, parsed = resolve(groups, levels)
    values = {"r": np.array([float(r)]), "f": np.array([float(f)]), "m": np.array([float(m)])}
    return next(name for name, tree in parsed if _evaluate(tree, values)[0])


def scores_context(groups="shopify", levels=None):
    """The render context value ``scores`` of ``sql/features/customer_scores.sql``.

    Returns
    -------
    dict
        ``levels`` (int) and ``groups``: per group, in order, ``condition`` (SQL
        on ``r_score``, ``f_score``, ``m_score``, the same for DuckDB and Spark)
        and ``label``, the group name as a string literal per dialect
        (``label.duckdb``, ``label.spark``: Spark reads backslash escapes and
        not doubled quotes).
    """
    levels, parsed = resolve(groups, levels)
    return {"levels": levels, "groups": [
        {"name": name, "condition": _sql(tree),
         "label": {"duckdb": "'" + name.replace("'", "''") + "'",
                   "spark": "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"}}
        for name, tree in parsed]}
