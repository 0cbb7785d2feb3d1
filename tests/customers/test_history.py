"""Per-customer columns that look back, and segments.segment_changes, on real builds."""

from __future__ import annotations

import datetime as dt

import pytest

from segkit.config import load_config
from segkit.pipeline import build
from segkit.scores import group_of
from tests.conftest import cdnow_config, cdnow_sample, query

CRM_QUERY = ("select * from segments.segment_changes "
             "where run_id = (select run_id from segments.latest_run)")


@pytest.fixture(scope="module")
def two_demo_builds(tmp_path_factory):
    """The demo built as of 1998-03-31, then with the default as-of date."""
    folder = tmp_path_factory.mktemp("two_builds")
    config = cdnow_config(folder, model="map = false\nbaseline_resamples = 2")
    warehouse = folder / "segkit.duckdb"
    first = build(load_config(config).replace(warehouse=warehouse, as_of="1998-03-31"))
    second = build(load_config(config).replace(warehouse=warehouse))
    return {"warehouse": warehouse, "first": first.run_id, "second": second.run_id}


def _history(warehouse, run_id: str) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in query(
        warehouse, "select customer_id, segment_id, segment_name from "
        "segments.segment_history where run_id = ?", [run_id])}


def test_segment_changes_are_the_customers_whose_segment_is_distinct(two_demo_builds):
    wh, first, second = (two_demo_builds[k] for k in ("warehouse", "first", "second"))
    expected = query(wh, """
        with before as (
            select customer_id, segment_id from segments.segment_history where run_id = ?
        ), after as (
            select customer_id, segment_id from segments.segment_history where run_id = ?
        )
        select coalesce(after.customer_id, before.customer_id), before.segment_id,
               after.segment_id
        from before full outer join after on after.customer_id = before.customer_id
        where before.segment_id is distinct from after.segment_id
        order by 1""", [first, second])
    changes = query(wh, f"select customer_id, previous_segment_id, segment_id, run_id, "
                        f"previous_run_id, changed_at, change_type from ({CRM_QUERY}) "
                        "order by customer_id")
    assert expected, "the two builds should move some customers"
    assert [c[:3] for c in changes] == expected
    assert {c[3:6] for c in changes} == {(second, first, dt.date(1998, 6, 30))}
    kinds = {c[6] for c in changes}
    assert kinds <= {"moved", "new", "gone"} and "moved" in kinds
    # the first build (no build before it) records no change
    assert query(wh, "select count(*) from segments.segment_changes where run_id = ?",
                 [first]) == [(0,)]


def test_previous_segment_and_segment_since_for_a_mover_and_a_stayer(two_demo_builds):
    wh, first, second = (two_demo_builds[k] for k in ("warehouse", "first", "second"))
    before, after = _history(wh, first), _history(wh, second)
    moved = next(c for c in sorted(after) if c in before and before[c][0] != after[c][0])
    stayed = next(c for c in sorted(after) if c in before and before[c][0] == after[c][0])
    rows = {r[0]: r[1:] for r in query(wh, """
        select customer_id, previous_segment_id, previous_segment_name, segment_since
        from segments.customer_segments where customer_id in (?, ?)""", [moved, stayed])}
    assert rows[moved] == (before[moved][0], before[moved][1], dt.date(1998, 6, 30))
    assert rows[stayed] == (before[stayed][0], before[stayed][1], dt.date(1998, 3, 31))
    # the first build: no previous segment, and every customer since its own as-of date
    assert query(wh, "select count(previous_segment_id), min(segment_since), "
                     "max(segment_since) from segments.segment_history where run_id = ?",
                 [first]) == [(0, dt.date(1998, 3, 31), dt.date(1998, 3, 31))]


def test_every_customer_has_scores_and_the_shopify_group_of_its_cell(two_demo_builds):
    wh = two_demo_builds["warehouse"]
    assert query(wh, "select count(*) from segments.customer_segments where r_score is null "
                     "or f_score is null or m_score is null or rfm_group is null") == [(0,)]
    cells = query(wh, "select distinct r_score, f_score, m_score, rfm_group "
                      "from segments.customer_segments")
    assert len(cells) > 20
    for r, f, m, group in cells:
        assert 1 <= min(r, f, m) and max(r, f, m) <= 5
        assert group == group_of(r, f, m, "shopify")
    named = {cell[:3]: cell[3] for cell in cells}
    assert named.get((5, 5, 5)) == "Champions"
    assert named.get((1, 1, 1)) == "Dormant"
    # the most recent buyers score highest on R
    recency = query(wh, """
        select s.r_score, max(f.recency_days), min(f.recency_days)
        from segments.customer_segments s
        join features.customer_features_history f
          on f.customer_id = s.customer_id and f.run_id = s.run_id
        group by 1 order by 1""")
    assert [r for r, _, _ in recency] == [1, 2, 3, 4, 5]
    assert all(recency[i][2] >= recency[i + 1][1] for i in range(4))


def test_model_selection_has_the_baseline_per_k(two_demo_builds):
    rows = query(two_demo_builds["warehouse"],
                 "select k, stability_ari_mean, stability_baseline from segments.model_selection")
    assert rows and all(0 <= b <= 1 for _, _, b in rows)


def test_segment_since_survives_trimming_over_twelve_builds(tmp_path):
    """12 builds, history_builds = 10: since dates still reach back to the first build."""
    sample = cdnow_sample(tmp_path)
    config = cdnow_config(tmp_path, path=sample, model="map = false\nbaseline_resamples = 0")
    warehouse = tmp_path / "segkit.duckdb"
    as_of = [dt.date(1997, 9, 30) + dt.timedelta(days=10 * i) for i in range(12)]
    segments: list[dict[str, int]] = []
    for date in as_of:
        build(load_config(config).replace(warehouse=warehouse, as_of=date.isoformat()))
        segments.append(dict(query(warehouse, "select customer_id, segment_id "
                                              "from segments.customer_segments")))
    assert query(warehouse, "select count(distinct run_id) from segments.segment_history"
                 ) == [(10,)]
    since = dict(query(warehouse, "select customer_id, segment_since "
                                  "from segments.customer_segments"))
    for customer, got in since.items():
        i = len(segments) - 1
        while i > 0 and segments[i - 1].get(customer) == segments[i][customer]:
            i -= 1
        assert got == as_of[i], customer
    unchanged = [c for c in since if all(s.get(c) == segments[0].get(c) for s in segments)]
    assert unchanged and {since[c] for c in unchanged} == {as_of[0]}
    # every build's changes are kept, trimming or not
    assert query(warehouse, "select count(distinct run_id) from segments.segment_changes"
                 )[0][0] >= 10


def test_first_build_of_an_older_warehouse_backfills_segment_since(tmp_path):
    """History written before segment_since (nulls) gets it from the history kept."""
    sample = cdnow_sample(tmp_path)
    config = cdnow_config(tmp_path, path=sample, model="map = false\nbaseline_resamples = 0")
    warehouse = tmp_path / "segkit.duckdb"
    dates = ["1997-10-31", "1997-12-31", "1998-02-28"]
    for date in dates:
        build(load_config(config).replace(warehouse=warehouse, as_of=date))
    runs = [r[0] for r in query(warehouse, "select run_id from meta.runs order by finished_at")]
    history = [_history(warehouse, r) for r in runs]
    import duckdb

    con = duckdb.connect(str(warehouse))
    con.execute("update segments.segment_history set segment_since = null")
    con.close()
    build(load_config(config).replace(warehouse=warehouse, as_of="1998-02-28"))
    rows = query(warehouse, "select customer_id, segment_id, segment_since "
                            "from segments.customer_segments")
    last = history[-1]
    for customer, segment_id, since in rows:
        if customer not in last or last[customer][0] != segment_id:
            assert since == dt.date(1998, 2, 28)
            continue
        i = 2
        while i > 0 and history[i - 1].get(customer, (None,))[0] == segment_id:
            i -= 1
        assert since == dt.date.fromisoformat(dates[i]), customer


def test_a_build_with_an_earlier_as_of_warns_and_carries_on(tmp_path):
    sample = cdnow_sample(tmp_path)
    config = cdnow_config(tmp_path, path=sample, model="map = false\nbaseline_resamples = 0")
    warehouse = tmp_path / "segkit.duckdb"
    build(load_config(config).replace(warehouse=warehouse, as_of="1998-03-31"))
    result = build(load_config(config).replace(warehouse=warehouse, as_of="1998-03-01"))
    assert any("earlier than the previous build's (1998-03-31)" in w for w in result.warnings)
    stored = query(warehouse, "select warnings from meta.runs where run_id = ?",
                   [result.run_id])[0][0]
    assert "earlier than the previous build's" in stored
    kept = query(warehouse, """
        select min(segment_since), max(segment_since) from segments.customer_segments
        where segment_id = previous_segment_id""")
    assert kept == [(dt.date(1998, 3, 31), dt.date(1998, 3, 31))]




def test_the_report_shows_the_crosstab_the_changes_and_the_baseline(two_demo_builds):
    from segkit import reporting

    wh = two_demo_builds["warehouse"]
    cfg = load_config(cdnow_config(wh.parent)).replace(warehouse=wh)
    html = reporting.render_html(reporting.load_report_data(cfg, None))
    assert "Segments against RFM groups" in html
    n_changes = query(wh, f"select count(*) from ({CRM_QUERY})")[0][0]
    assert f"{n_changes:,} customers changed segment" in html
    assert "Since when customers have had their segment" in html
    stability, baseline = query(wh, "select stability_ari_mean, stability_baseline "
                                    "from segments.model_selection where is_chosen")[0]
    if round(stability, 2) - round(baseline, 2) <= 0.05:  # the demo: 1.00 and 1.00
        assert "Stability cannot tell structure from noise on this data" in html
        assert (f"the segments' stability is {stability:.2f}, and data with no structure"
                in html) and f"scores {baseline:.2f}, just as high" in html
    else:
        assert (f"the segments' stability is {stability:.2f} against {baseline:.2f} for data "
                "with no structure") in html
    for group in [r[0] for r in query(wh, "select distinct rfm_group "
                                          "from segments.customer_segments")]:
        assert f'<th class="num">{group}</th>' in html
