"""RFM vocabularies and users' grids: every score cell in exactly one group, safe SQL."""

from __future__ import annotations

import duckdb
import pytest

from segkit.errors import ConfigError
from segkit.scores import (
    KLAVIYO,
    SHOPIFY,
    check_groups,
    group_of,
    resolve,
    score_cells,
    scores_context,
)


@pytest.mark.parametrize("cell, group", [
    ((5, 5, 5), "Champions"), ((5, 4, 4), "Champions"), ((5, 5, 3), "Champions"),
    ((4, 5, 5), "Loyal"), ((3, 4, 4), "Loyal"),
    ((5, 3, 3), "Active"), ((4, 4, 3), "Active"), ((5, 2, 3), "Active"),  # FM 3.5 and 2.5
    ((5, 1, 1), "New"), ((5, 2, 2), "New"), ((4, 1, 2), "Promising"),
    ((3, 3, 3), "Needs attention"), ((3, 1, 1), "Almost lost"), ((2, 2, 1), "Almost lost"),
    ((2, 3, 3), "At risk"), ((1, 3, 4), "At risk"),
    ((1, 5, 5), "Previously loyal"), ((2, 4, 4), "Previously loyal"),
    ((1, 1, 1), "Dormant"), ((1, 2, 2), "Dormant"),
])
def test_shopify_grid_of_r_against_the_mean_of_f_and_m(cell, group):
    assert group_of(*cell) == group


def test_shopify_covers_its_125_cells_once_and_uses_its_ten_groups():
    levels, parsed = resolve("shopify")
    assert levels == 5 and len(score_cells(levels)) == 125
    assert {group_of(*c) for c in score_cells(5)} == {name for name, _ in SHOPIFY.groups}
    assert len(parsed) == 10


def test_klaviyo_scores_one_to_three_and_its_listed_loyal_cells():
    assert resolve("klaviyo")[0] == 3
    cells = {c: group_of(*c, groups="klaviyo") for c in score_cells(3)}
    assert cells[(3, 3, 3)] == "Champions" and cells[(1, 1, 1)] == "Inactive"
    assert sorted(c for c, g in cells.items() if g == "Loyal") == [
        (2, 3, 2), (2, 3, 3), (3, 2, 1), (3, 2, 2), (3, 3, 1)]
    assert cells[(3, 1, 2)] == "Recent" and cells[(1, 3, 3)] == "At risk"
    assert set(cells.values()) == {name for name, _ in KLAVIYO.groups}


def test_a_users_grid_with_a_gap_names_the_cells_left_out():
    with pytest.raises(ConfigError) as err:
        resolve({"Top": "r >= 4", "Bottom": "r <= 2"})
    message = str(err.value)
    assert "[scores] groups (scores 1 to 5, cells as (r, f, m))" in message
    assert "25 of 125 score cells fall in no group: (3, 1, 1), (3, 1, 2)" in message
    assert "and 15 more" in message


def test_overlapping_rules_name_the_cells_claimed_twice():
    # rsquaredacademy/rfm#56: overlapping rules silently leave a later group empty.
    groups = {"Champions": "r >= 4 and f >= 4", "Loyal": "r >= 3 and f >= 3",
              "Others": "r < 3 or f < 3"}
    with pytest.raises(ConfigError) as err:
        resolve(groups, levels=5)
    message = str(err.value)
    assert "fall in more than one: (4, 4, 1) in 'Champions' and 'Loyal'" in message
    assert "fall in no group" not in message


def test_a_users_grid_that_fits_and_its_levels():
    groups = {"Best": "r = 3 and f + m >= 5", "Rest": "not (r = 3 and f + m >= 5)"}
    assert resolve(groups, levels=3)[0] == 3
    assert group_of(3, 2, 3, groups=groups, levels=3) == "Best"
    assert resolve({"All": "r between 1 and 4"}, levels=4)[0] == 4
    with pytest.raises(ConfigError, match="levels = 7: the shopify groups are defined on scores "
                                          "1 to 5; set levels only with your own groups"):
        resolve("shopify", levels=7)
    with pytest.raises(ConfigError, match="levels = 1: use an integer from 2 to 10"):
        resolve({"All": "r >= 1"}, levels=1)
    with pytest.raises(ConfigError, match="groups = 'hubspot': use \"shopify\", \"klaviyo\""):
        resolve("hubspot")


@pytest.mark.parametrize("condition, says", [
    ("r > 1; drop table customers", "does not parse|may use only"),
    ("r > (select max(r_score) from features.customer_scores)", "may use only"),
    ("abs(r) > 1", "has 'ABS\\(r\\)'"),
    ("x.r > 1", "names 'x.r'"),
    ("recency > 1", "names 'recency'"),
    ("r > 'a'", "may use only"),
    ("r + f", "where a comparison belongs"),
    ("r and f >= 1", "where a comparison belongs"),
    ("(r >= 1) + 1 > 0", "where a number belongs"),
    ("r >= ", "does not parse"),
    ("", "a condition must be text"),
])
def test_only_scores_numbers_and_operators_parse(condition, says):
    with pytest.raises(ConfigError, match=says):
        check_groups({"Group": condition}, 5)


def test_malformed_names_and_division_by_zero_are_refused():
    with pytest.raises(ConfigError, match="divides by zero at scores \\(1, 1, 1\\)"):
        check_groups({"All": "r / (f - m) >= 0 or r >= 1"}, 3)
    with pytest.raises(ConfigError, match="group name '' must be text"):
        check_groups([("", "r >= 1")], 3)
    with pytest.raises(ConfigError, match="appear more than once"):
        check_groups([("A", "r >= 2"), ("A", "r < 2")], 3)
    with pytest.raises(ConfigError, match="is empty"):
        check_groups({}, 3)


def test_the_sql_of_a_condition_decides_every_cell_as_the_check_does():
    # Fractions, division, negation, between and in: DuckDB must agree on each cell.
    groups = {
        "A": "(f + m) / 2 >= 3.5 and not r in (1, 2)",
        "B": "(f + m) / 2 < 3.5 and r * 0.1 > 0.25 and -m <= -1",
        "C": "r between 1 and 2 or (r >= 3 and (f + m) / 2 < 3.5 and r * 0.1 <= 0.25)",
    }
    context = scores_context(groups, levels=5)
    con = duckdb.connect()
    values = ", ".join(f"({r}, {f}, {m})" for r, f, m in score_cells(5))
    case = " ".join(f"when {g['condition']} then {g['label']['duckdb']}"
                    for g in context["groups"])
    rows = con.execute(f"select r_score, f_score, m_score, case {case} end from "
                       f"(values {values}) as cells(r_score, f_score, m_score)").fetchall()
    assert {(r, f, m): g for r, f, m, g in rows} == {
        c: group_of(*c, groups=groups, levels=5) for c in score_cells(5)}
    assert context["groups"][1]["condition"] == (
        "((((cast((f_score + m_score) as double) / 2) < cast(3.5 as double)) and "
        "((r_score * cast(0.1 as double)) > cast(0.25 as double))) and ((-m_score) <= (-1)))")


def test_group_names_are_string_literals_for_each_dialect():
    context = scores_context({"Can't lose": "r >= 3", "Back\\slash": "r < 3"}, levels=3)
    labels = [g["label"] for g in context["groups"]]
    assert labels[0] == {"duckdb": "'Can''t lose'", "spark": "'Can\\'t lose'"}
    assert labels[1] == {"duckdb": "'Back\\slash'", "spark": "'Back\\\\slash'"}
    con = duckdb.connect()
    assert con.execute(f"select {labels[0]['duckdb']}, {labels[1]['duckdb']}").fetchone() == (
        "Can't lose", "Back\\slash")
