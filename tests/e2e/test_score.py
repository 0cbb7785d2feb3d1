"""The warehouse holds what the build computed; `segkit score` applies the build's values."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

import segkit
from segkit import scoring
from segkit.config import DEMO_DATA, load_config
from tests.conftest import cdnow_config, cdnow_sample, query, write_config
from tests.e2e.test_cli import segkit as segkit_cli

PUBLISHED = {
    "features.customer_features": "select * from features.customer_features order by all",
    "cleaning.quarantine": "select * from cleaning.quarantine order by all",
    "segments.customer_segments": "select * from segments.customer_segments order by all",
    "segments.segment_profiles": "select * from segments.segment_profiles order by all",
    "segments.migration": "select * from segments.migration order by all",
}


def test_published_objects_answer_what_the_build_computed_after_the_source_moves(tmp_path):
    source = tmp_path / "orders.csv"
    shutil.copy(cdnow_sample(tmp_path), source)  # a tenth of the demo's customers
    config = cdnow_config(tmp_path, path=source)
    segkit.build(config, k=4)
    result = segkit.build(config, k=4)  # two builds: migration has rows
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    before = {name: query(wh, sql) for name, sql in PUBLISHED.items()}
    assert len(before["features.customer_features"]) == result.customers
    assert len(before["cleaning.quarantine"]) == result.rows_quarantined
    assert before["segments.migration"]

    # Changed: the source now holds a tenth of the lines. Built objects stay.
    lines = source.read_text().splitlines()
    source.write_text("\n".join(lines[: len(lines) // 10]) + "\n")
    assert {name: query(wh, sql) for name, sql in PUBLISHED.items()} == before
    (live,), = query(wh, "select count(*) from segments.live_segments")
    assert live < result.customers  # the live view reads the source as it is now

    # Moved away: built objects still answer; the live ones say the file is gone.
    source.rename(tmp_path / "elsewhere.csv")
    assert {name: query(wh, sql) for name, sql in PUBLISHED.items()} == before
    with pytest.raises(duckdb.IOException, match="orders.csv"):
        query(wh, "select count(*) from segments.live_segments")


def _lines_of(customers: set[str]) -> pl.DataFrame:
    frame = pl.read_csv(DEMO_DATA, infer_schema=False)
    return frame.filter(pl.col("customer_id").is_in(sorted(customers)))


def test_scoring_a_subset_of_customers_gives_exactly_their_build_labels(cdnow_build, tmp_path):
    wh = cdnow_build["warehouse"]
    published = dict(query(wh, "select customer_id, segment_id from segments.customer_segments"))
    (as_of,), = query(wh, "select as_of_date from meta.runs join segments.latest_run "
                          "using (run_id)")
    rng = np.random.default_rng(0)
    ids = set(rng.choice(sorted(published), 1500, replace=False).tolist())
    # and one customer who bought on the last day, so the file's last day is the build's
    last_day_buyer = _lines_of(set(published)).filter(
        pl.col("purchase_date") == as_of.isoformat())["customer_id"][0]
    subset = tmp_path / "subset.csv"
    _lines_of(ids | {last_day_buyer}).write_csv(subset)

    out = tmp_path / "scored.csv"
    done = segkit_cli("score", "--config", str(cdnow_build["config"]), "--input", str(subset),
                      "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"as of {as_of} (the build's as-of date, also the file's last purchase day)" in \
        done.stderr
    scored = pl.read_csv(out, schema_overrides={"customer_id": pl.String})
    assert scored.height == len(ids | {last_day_buyer})
    assert scored["unscored_reason"].null_count() == scored.height
    assert {c: s for c, s in scored.select("customer_id", "segment_id").iter_rows()} == \
        {c: published[c] for c in ids | {last_day_buyer}}


def test_customers_who_stopped_buying_long_before_the_build_get_their_build_labels(
        cdnow_build, tmp_path):
    """No --as-of: recency is measured to the build's day, not to the file's own last day
    (which made a third of these customers look recent)."""
    wh = cdnow_build["warehouse"]
    published = dict(query(wh, "select customer_id, segment_id from segments.customer_segments"))
    (as_of,), = query(wh, "select as_of_date from meta.runs join segments.latest_run "
                          "using (run_id)")
    lines = pl.read_csv(DEMO_DATA, infer_schema=False)
    last_day = lines.group_by("customer_id").agg(pl.col("purchase_date").max())
    stopped = set(last_day.filter(pl.col("purchase_date") < "1998-01-01")["customer_id"])
    subset = tmp_path / "stopped.csv"
    _lines_of(stopped).write_csv(subset)
    file_last_day = _lines_of(stopped)["purchase_date"].max()
    assert file_last_day < as_of.isoformat()

    out = tmp_path / "scored.csv"
    done = segkit_cli("score", "--config", str(cdnow_build["config"]), "--input", str(subset),
                      "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (f"as of {as_of} (the build's as-of date; the file's last purchase day is "
            f"{file_last_day})") in " ".join(done.stderr.split())
    scored = pl.read_csv(out, schema_overrides={"customer_id": pl.String})
    assert set(scored["customer_id"]) == stopped
    used = scored.filter(pl.col("unscored_reason").is_null())
    # Every scorable customer gets the build's label; the others were not in the build
    # either (every line quarantined).
    assert set(used["customer_id"]) == stopped & set(published)
    assert dict(used.select("customer_id", "segment_id").iter_rows()) == \
        {c: published[c] for c in stopped & set(published)}
    assert len(stopped & set(published)) > 18_000


def test_newer_data_is_measured_to_its_own_last_day(small_build, tmp_path):
    _, cfg = small_build
    (build_as_of,), = query(cfg.warehouse, "select as_of_date from meta.runs")
    newer = tmp_path / "newer.csv"
    newer.write_text("customer,day,amount\n"
                     f"n1,{build_as_of + dt.timedelta(days=40)},12.00\n"
                     f"n2,{build_as_of + dt.timedelta(days=10)},12.00\n")
    info = segkit.score(newer, tmp_path / "s.csv", config=cfg)
    assert info["as_of"] == build_as_of + dt.timedelta(days=40)
    assert (info["as_of_rule"], info["file_last_day"]) == ("file", info["as_of"])
    build = scoring._latest_build(cfg)
    frame, _, as_of = scoring._features_from_transactions(cfg, newer, build, None)
    assert dict(frame.select("customer_id", "recency_days").iter_rows()) == {"n1": 0, "n2": 30}

    older = tmp_path / "older.csv"
    older.write_text(f"customer,day,amount\nn1,{build_as_of - dt.timedelta(days=90)},12.00\n")
    frame, _, as_of = scoring._features_from_transactions(cfg, older, build, None)
    assert (as_of.date, as_of.rule) == (build_as_of, "build")
    assert frame["recency_days"].to_list() == [90]


def test_scoring_with_the_builds_as_of_reproduces_labels_of_any_subset(cdnow_build, tmp_path):
    wh = cdnow_build["warehouse"]
    published = dict(query(wh, "select customer_id, segment_id from segments.customer_segments"))
    (as_of,), = query(wh, "select as_of_date from meta.runs join segments.latest_run "
                          "using (run_id)")
    ids = {c for c in published if c.endswith("7")}  # customers whose last day varies
    subset = tmp_path / "subset.parquet"
    _lines_of(ids).write_parquet(subset)
    info = segkit.score(subset, tmp_path / "s.parquet", config=cdnow_build["config"],
                        as_of=str(as_of))
    scored = pl.read_parquet(tmp_path / "s.parquet")
    assert info["as_of"] == as_of and info["unscored"] == 0
    assert dict(scored.select("customer_id", "segment_id").iter_rows()) == \
        {c: published[c] for c in ids}


def test_champion_live_segments_and_score_agree_for_every_demo_customer(cdnow_build, tmp_path):
    wh = cdnow_build["warehouse"]
    live = dict(query(wh, "select customer_id, segment_id from segments.live_segments"))
    built = dict(query(wh, "select customer_id, segment_id from segments.customer_segments"))
    assert live == built
    for model in ("centroids", "champion"):
        out = tmp_path / f"{model}.parquet"
        segkit.score(DEMO_DATA, out, config=cdnow_build["config"], model=model)
        scored = pl.read_parquet(out).filter(pl.col("unscored_reason").is_null())
        assert dict(scored.select("customer_id", "segment_id").iter_rows()) == live, model


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """A build of 300 customers with ages (some missing), and its config."""
    folder = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(7)
    start = dt.date(2024, 1, 1)
    rows = ["customer,day,amount"]
    for c in range(300):
        for _ in range(int(rng.integers(1, 8))):
            day = start + dt.timedelta(days=int(rng.integers(0, 180)))
            rows.append(f"c{c:03d},{day},{rng.gamma(2, 20) + 1:.2f}")
    (folder / "orders.csv").write_text("\n".join(rows) + "\n")
    people = ["customer,age"] + [f"c{c:03d},{'' if c % 5 == 0 else int(rng.integers(18, 80))}"
                                 for c in range(300)]
    (folder / "people.csv").write_text("\n".join(people) + "\n")
    config = write_config(folder, """
        [transactions]
        path = "orders.csv"
        customer_id = "customer"
        timestamp = "day"
        amount = "amount"
        [customers]
        path = "people.csv"
        customer_id = "customer"
        age = "age"
        [model]
        features = ["recency_days", "frequency", "monetary", "age"]
        map = false
        [mlflow]
        enabled = false
    """)
    segkit.build(config, k=3)
    return folder, load_config(config)


def test_new_customers_get_the_builds_caps_imputation_and_the_given_as_of(small_build, tmp_path):
    folder, cfg = small_build
    ages = pl.read_csv(folder / "people.csv")["age"].drop_nulls().cast(pl.Float64)
    orders = pl.read_csv(folder / "orders.csv", try_parse_dates=True)
    per_customer = orders.group_by("customer", "day").agg(pl.col("amount").sum()).group_by(
        "customer").agg(pl.col("amount").mean().round(2).alias("monetary"))
    # the build's reference values, computed by hand from its source
    median_age = ages.median()
    monetary = per_customer["monetary"].sort()
    n = monetary.len()
    cap_high = monetary[int(np.ceil(0.99 * n)) - 1]  # quantile_disc: the first value at 99%
    wh = cfg.warehouse
    assert query(wh, "select age__impute, monetary__high from features.numeric_bounds") == [
        (median_age, cap_high)]

    # Two new customers, not in the customers table: no age, so it is imputed;
    # one spends far above the build's cap. In a file of two customers, today's
    # own quantiles would cap nothing.
    new = tmp_path / "new.csv"
    new.write_text("customer,day,amount\n"
                   "n1,2024-06-01,1000000.00\n"
                   "n2,2024-05-01,10.00\nn2,2024-05-11,30.00\n")
    build = scoring._latest_build(cfg)
    frame, unscored, as_of = scoring._features_from_transactions(cfg, new, build, "2024-07-01")
    assert unscored.is_empty() and (as_of.date, as_of.rule) == (dt.date(2024, 7, 1), "given")
    got = {r["customer_id"]: r for r in frame.iter_rows(named=True)}
    assert got["n1"]["monetary"] == cap_high
    assert got["n2"]["monetary"] == 20.0  # (10 + 30) / 2 days, under the cap
    assert got["n1"]["recency_days"] == 30 and got["n2"]["recency_days"] == 51
    assert got["n2"]["tenure_days"] == 61
    assert got["n1"]["age"] == got["n2"]["age"] == median_age

    # Through the front door: both scored, with the build as the reference.
    out = tmp_path / "scored.csv"
    info = segkit.score(new, out, config=cfg, as_of="2024-07-01")
    assert (info["scored"], info["unscored"]) == (2, 0)


def test_a_customer_that_cannot_be_scored_is_listed_with_the_reason(small_build, tmp_path):
    _, cfg = small_build
    new = tmp_path / "new.csv"
    new.write_text("customer,day,amount\n"
                   "n1,2024-06-01,12.00\n"
                   "n2,2024-06-01,-5.00\n"
                   "n3,not a day,5.00\n"
                   "n4,2024-08-01,5.00\n")
    out = tmp_path / "scored.csv"
    info = segkit.score(new, out, config=cfg, as_of="2024-07-01")
    scored = pl.read_csv(out)
    assert (info["customers"], info["scored"], info["unscored"]) == (4, 1, 3)
    assert dict(scored.select("customer_id", "unscored_reason").iter_rows()) == {
        "n1": None,
        "n2": "every line quarantined: amount zero or negative",
        "n3": "every line quarantined: missing or unparseable timestamp",
        "n4": "every line quarantined: timestamp after the as-of date",
    }


def test_feature_rows_with_a_missing_value_are_listed_not_dropped(small_build, tmp_path):
    _, cfg = small_build
    rows = tmp_path / "rows.csv"
    rows.write_text("customer_id,recency_days,frequency,monetary,age\n"
                    "a,10,2,50,40\nb,10,,50,40\n")
    out = tmp_path / "scored.csv"
    info = segkit.score(rows, out, config=cfg)
    scored = pl.read_csv(out)
    assert (info["scored"], info["unscored"]) == (1, 1)
    assert scored.filter(pl.col("customer_id") == "b")["unscored_reason"][0] == \
        "no value for frequency"


def test_the_mlflow_model_answers_in_segment_ids_not_the_internal_index(small_build):
    """After ids were matched to an earlier build, index i is no longer id i + 1."""
    from segkit import tracking
    from segkit.model import Segmenter

    folder, cfg = small_build
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    frame = con.sql("select * from features.customer_features order by customer_id").pl()
    con.close()
    model = Segmenter(features=["recency_days", "frequency", "monetary"], k=3,
                      seed=0).fit(frame)
    ids, names = [12, 4, 9], ["Twelve", "Four", "Nine"]
    wrapped = tracking.SegmentModel(model.to_pipeline(), model.features_, ids, names)
    got = wrapped.predict(None, frame.select(model.features_).to_pandas())
    index = model.predict(frame)
    assert got["segment_id"].tolist() == [ids[i] for i in index]
    assert got["segment_name"].tolist() == [names[i] for i in index]


def test_a_customer_outside_the_caps_with_outliers_remove_is_listed(tmp_path):
    source = tmp_path / "orders.csv"
    shutil.copy(cdnow_sample(tmp_path), source)  # a tenth of the demo's customers
    config = write_config(tmp_path, f"""
        [transactions]
        path = "{source}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        [features]
        outliers = "remove"
        [model]
        map = false
        k = 4
        [mlflow]
        enabled = false
    """)
    segkit.build(config)
    new = tmp_path / "new.csv"
    new.write_text("customer_id,purchase_date,cd_count,dollar_value\n"
                   "w1,1998-06-01,1,999999.00\n"
                   "n1,1998-06-01,1,20.00\n")
    out = tmp_path / "scored.csv"
    info = segkit.score(new, out, config=config, as_of="1998-06-30")
    scored = pl.read_csv(out)
    assert (info["scored"], info["unscored"]) == (1, 1)
    assert dict(scored.select("customer_id", "unscored_reason").iter_rows()) == {
        "n1": None, "w1": "outside the build's caps of a feature (outliers = remove)"}


def test_score_file_of_feature_rows_matches_the_segment_table(cdnow_build, tmp_path):
    wh = cdnow_build["warehouse"]
    features_csv = tmp_path / "features.csv"
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    con.execute(f"copy (select * from features.customer_features) to '{features_csv}'")
    con.close()
    out = tmp_path / "scored.parquet"
    info = segkit.score(features_csv, out, config=cdnow_build["config"])
    scored = pl.read_parquet(out)
    assert info["customers"] == info["scored"] == scored.height == cdnow_build["result"].customers
    published = dict(query(wh, "select customer_id, segment_id from segments.customer_segments"))
    assert all(published[c] == s for c, s in scored.select("customer_id", "segment_id").iter_rows())


def test_score_raw_transactions(cdnow_build, tmp_path):
    out = tmp_path / "scored.csv"
    info = segkit.score(DEMO_DATA, out, config=cdnow_build["config"])
    assert info["scored"] == cdnow_build["result"].customers
    assert info["customers"] == info["scored"] + info["unscored"]
    scored = pl.read_csv(out, schema_overrides={"customer_id": pl.String})
    published = dict(query(cdnow_build["warehouse"],
                           "select customer_id, segment_id from segments.customer_segments"))
    used = scored.filter(pl.col("unscored_reason").is_null())
    assert all(published[c] == s for c, s in used.select("customer_id", "segment_id").iter_rows())
    # a customer none of whose lines is usable is listed, with the reason, not dropped
    unscored = scored.filter(pl.col("unscored_reason").is_not_null())
    assert unscored.height == info["unscored"]
    assert not set(unscored["customer_id"]) & set(published)
    assert all(r.startswith("every line quarantined: ") for r in unscored["unscored_reason"])
