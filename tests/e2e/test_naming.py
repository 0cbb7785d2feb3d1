"""Segment names and profiles a marketer can use, on real builds.

Generated transactions with k forced to 8 put several segments in one RFM cell;
a customers-only table with CamelCase columns must keep their spelling.
"""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

import segkit
from segkit.config import DEMO_DATA
from tests.conftest import cdnow_config, copy_build, query, write_config

RFM_NAMES = {
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
}  # fmt: skip


@pytest.fixture(scope="module")
def k8_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("k8")
    segkit.generate(folder, transactions=100_000, seed=0)
    config = folder / "segkit.toml"
    config.write_text(config.read_text() + "\n[model]\nk = 8\nmap = false\n"
                      "[mlflow]\nenabled = false\n")
    result = segkit.build(config)
    return {"result": result, "warehouse": folder / "warehouse" / "segkit.duckdb"}


def test_segments_in_one_rfm_cell_get_distinct_names_without_digits(k8_build):
    names = k8_build["result"].segment_names
    assert len(names) == 8 and len(set(names)) == 8
    assert not any(ch.isdigit() for name in names for ch in name)
    base = [name.split(" · ")[0] for name in names]
    assert set(base) <= RFM_NAMES
    shared = {b for b in base if base.count(b) > 1}
    assert shared, "k = 8 on this data is expected to put two segments in one RFM cell"
    for name, b in zip(names, base):
        # A shared cell says what separates its segments; a unique one stays plain.
        assert (" · " in name) == (b in shared)
    stored = query(k8_build["warehouse"], "select distinct segment_index, segment_name "
                                          "from segments.segment_profiles order by 1")
    assert [n for _, n in stored] == names


def test_onehot_profile_rows_carry_shares_adding_up_to_one(k8_build):
    wh = k8_build["warehouse"]
    sums = query(wh, "select segment_id, attribute, sum(level_share) from "
                     "segments.segment_profiles where kind = 'onehot' group by all")
    assert {a for _, a, _ in sums} == {"gender", "education", "marital_status"}
    assert len(sums) == 8 * 3
    assert all(abs(total - 1) < 1e-9 for _, _, total in sums)
    # One-hot rows hold shares, not medians of 0/1; overall shares are the same
    # in every segment and match the customers table.
    assert query(wh, "select count(*) from segments.segment_profiles where kind = 'onehot' "
                     "and (median is not null or level_share is null)") == [(0,)]
    assert query(wh, "select count(distinct overall_share) from segments.segment_profiles "
                     "where feature = 'is_gender_f'") == [(1,)]
    top = query(wh, "select top_level, level_share from segments.segment_profiles "
                    "where kind = 'categorical' and feature = 'education' order by segment_index")
    assert len(top) == 8 and all(level == "Graduation" for level, _ in top)
    # Numeric features keep mean and median; the description's features have phrases.
    assert query(wh, "select count(*) from segments.segment_profiles where kind = 'numeric' "
                     "and (mean is null or median is null)") == [(0,)]
    assert query(wh, "select count(*) from segments.segment_profiles "
                     "where description_rank is not null and phrase is null") == [(0,)]


def _customers_only(folder, labels: str = ""):
    rng = np.random.default_rng(1)
    n = 1500
    income = rng.gamma(5, 10_000, n)
    pl.DataFrame({
        "ID": [f"P{i:05d}" for i in range(n)],
        "Income": income.round(0),
        "StorePurchases": rng.poisson(np.clip(income / 10_000, 1, None)),
        "SpendMeat": (rng.gamma(2, 1, n) * income / 400).round(2),
        "Country": rng.choice(["DE", "FR", "ES"], n),
    }).write_parquet(folder / "people.parquet")
    return write_config(folder, f"""
        [customers]
        path = "people.parquet"
        customer_id = "ID"
        numeric = ["Income", "StorePurchases", "SpendMeat"]
        categorical = ["Country"]
        [features]
        {labels}
        [model]
        k = 4
        n_resamples = 10
        map = false
        [mlflow]
        enabled = false
    """)


def test_customers_only_names_use_the_source_spelling(tmp_path):
    result = segkit.build(_customers_only(tmp_path))
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    text = " ".join(result.segment_names) + " " + " ".join(
        d for d, in query(wh, "select distinct description from segments.segment_profiles"))
    assert any(col in text for col in ("StorePurchases", "SpendMeat", "Income"))
    assert "storepurchases" not in text and "spendmeat" not in text
    labels = dict(query(wh, "select distinct feature, label from segments.segment_profiles"))
    assert labels["storepurchases"] == "StorePurchases"  # canonical name: storepurchases
    assert labels["is_country_de"] == "Country: DE" and labels["country"] == "Country"
    # A description names the few features that set a segment apart, not all.
    for description, in query(wh, "select distinct description from segments.segment_profiles"):
        assert description.count(",") <= 2


def test_configured_labels_name_the_features(tmp_path):
    config = _customers_only(tmp_path, 'labels = { SpendMeat = "meat spend", '
                                       'StorePurchases = "store purchases" }')
    result = segkit.build(config)
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    text = " ".join(result.segment_names) + " " + " ".join(
        d for d, in query(wh, "select distinct description from segments.segment_profiles"))
    assert "meat spend" in text or "store purchases" in text
    assert "SpendMeat" not in text and "StorePurchases" not in text
    html = (tmp_path / "reports" / "latest.html").read_text()
    assert "meat spend" in html


def test_a_segment_that_keeps_its_id_keeps_its_name_and_description(cdnow_build, tmp_path):
    # The first build is the shared demo build (same data, model and seed), copied.
    first = cdnow_build["result"]
    wh = copy_build(cdnow_build, tmp_path)
    config = cdnow_config(tmp_path)
    # What the previous build called segment 1, as if its centroid had sat on
    # the other side of a score boundary then.
    con = duckdb.connect(str(wh))
    con.execute("update segments.profile_history set segment_name = 'Steady buyers', "
                "description = 'buy often' where segment_id = 1")
    con.close()
    second = segkit.build(config)
    rows = query(wh, "select distinct segment_id, segment_name, description "
                     "from segments.segment_profiles order by segment_id")
    assert rows[0][1:] == ("Steady buyers", "buy often")
    assert second.segment_names[0] == "Steady buyers"
    assert second.segment_names[1:] == first.segment_names[1:]


def test_segment_ids_stay_stable_when_data_barely_changes(cdnow_build, tmp_path):
    # Build on CDNOW (the shared demo build, copied), then on CDNOW minus a few
    # hundred lines: same segments, same ids.
    first = cdnow_build["result"]
    copy_build(cdnow_build, tmp_path)
    data = tmp_path / "orders.csv"
    shutil.copy(DEMO_DATA, data)
    config = cdnow_config(tmp_path, path="orders.csv")
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:1] + lines[1::1][:-500]) + "\n")
    second = segkit.build(config)
    assert first.k == second.k
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    ids = query(wh, "select run_id, segment_name, segment_id from segments.centroid_history "
                    "where feature_index = 0 order by run_id, segment_id")
    by_run = {}
    for run_id, name, segment_id in ids:
        by_run.setdefault(run_id, {})[name] = segment_id
    assert by_run[first.run_id] == by_run[second.run_id]
    # Most customers stay where they were: the migration view shows it.
    (stayed, total), = query(wh, "select sum(n_customers) filter (where from_segment_id = "
                                 "to_segment_id), sum(n_customers) from segments.migration")
    assert stayed / total > 0.9
