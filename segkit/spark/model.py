"""Bin edges, binning, distinct vectors and the assignment, computed in Spark.

Only small results come to the driver: per feature the handful of order
statistics the quantile edges need, and the distinct binned vectors with their
counts (at most ``n_bins ** d`` rows). The model is fitted on that weighted set
(:meth:`segkit.model.Segmenter.fit_binned`), and every customer is assigned in
Spark SQL by the one assignment rule (``sql/macros/assign.sql``).
"""

from __future__ import annotations

import numpy as np

from segkit import project
from segkit.feature_names import RFM_FEATURES
from segkit.features import for_dialect, segment_context
from segkit.spark.sql import materialize

FEATURES = "features__customer_features"
ASSIGNED = "segments__assigned"


def _double(value: float) -> str:
    """A double literal Spark reads back as exactly this double."""
    if np.isinf(value):
        return f"double('{'-' if value < 0 else ''}Infinity')"
    return f"cast('{float(value)!r}' as double)"


def candidates(columns: dict[str, str], features, onehot=None) -> tuple[list[str], list[str]]:
    """The binned and one-hot candidates, as :class:`Segmenter` picks them from a frame.

    ``columns`` is column -> Spark type name of the feature view.
    """
    numeric = [c for c, t in columns.items() if c != "customer_id" and (t in (
        "double", "float", "int", "bigint", "smallint", "tinyint") or t.startswith("decimal"))]
    if features is None:
        onehot_default = {c for c in numeric if c.startswith("is_")}
        chosen = (list(RFM_FEATURES) if all(c in columns for c in RFM_FEATURES)
                  else [c for c in numeric if c not in onehot_default] or numeric)
    else:
        chosen = list(features)
        missing = [f for f in chosen if f not in columns]
        if missing:
            raise ValueError(f"features {missing} are not columns of the features; columns "
                             f"are {list(columns)}")
    hot = [f for f in chosen if f.startswith("is_")] if onehot is None else list(onehot)
    return [f for f in chosen if f not in hot], hot


def _percentile_positions(n: int, n_bins: int):
    """numpy's averaged_inverted_cdf positions: (previous, next, gamma) per level."""
    q = np.true_divide(np.linspace(0, 100, n_bins + 1), 100)
    virtual = n * q - 1
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = n - 1
    following[above] = n - 1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    # numpy's gamma uses the index it clipped (-1 above the bounds)
    gamma = virtual - np.where(above, -1, previous)
    gamma = np.where(gamma == 0, 0.5, 1.0)
    return previous.astype(np.int64), following.astype(np.int64), gamma


def bin_edges(spark, features: list[str], n_bins: int) -> dict[str, list[float]]:
    """Each feature's quantile edges, exactly as scikit-learn's ``KBinsDiscretizer``
    (``strategy="quantile"``, ``quantile_method="averaged_inverted_cdf"``,
    ``subsample=None``) computes them from the same column.

    Spark finds the order statistics numpy's percentile reads (the value at
    each needed rank, from the cumulative counts of the distinct values);
    numpy's own interpolation and the removal of bins narrower than 1e-8 run here.
    """
    edges = {}
    # count, min, max and the bad values of every feature in one query (a job each
    # feature before)
    parts = []
    for feature in features:
        column = f"cast(`{feature}` as double)"
        parts += [f"min({column})", f"max({column})", f"count_if({column} is null or "
                  f"isnan({column}) or abs({column}) = double('Infinity'))"]
    summary = spark.sql(f"select count(*), {', '.join(parts)} from {FEATURES}").collect()[0] \
        if features else None
    for j, feature in enumerate(features):
        column = f"cast(`{feature}` as double)"
        n, (low, high, bad) = summary[0], summary[1 + 3 * j:4 + 3 * j]
        if bad:
            raise ValueError(f"column {feature!r} contains nulls, NaN or infinite values; "
                             "impute them upstream")
        if low == high:
            edges[feature] = [float("-inf"), float("inf")]
            continue
        previous, following, gamma = _percentile_positions(n, n_bins)
        ranks = sorted(set(previous.tolist()) | set(following.tolist()))
        picks = ", ".join(f"min(case when upto > {r} then x end)" for r in ranks)
        row = spark.sql(f"""
            with counted as (
                select {column} as x, count(*) as n from {FEATURES} group by 1
            ),
            cumulative as (
                select x, sum(n) over (order by x rows between unbounded preceding
                                       and current row) as upto
                from counted
            )
            select {picks} from cumulative""").collect()[0]
        value = dict(zip(ranks, (float(v) for v in row)))
        a = np.array([value[i] for i in previous], dtype=np.float64)
        b = np.array([value[i] for i in following], dtype=np.float64)
        # numpy's _lerp where t >= 0.5 (always, for this method): b - (b - a) * (1 - t)
        result = b - (b - a) * (1 - gamma)
        mask = np.ediff1d(result, to_begin=np.inf) > 1e-8
        edges[feature] = result[mask].tolist()
    return edges


def bin_expression(feature: str, edges: list[float]) -> str:
    """The bin of a value: how many inner edges are at or below it (sklearn's searchsorted)."""
    inner = edges[1:-1]
    if not inner:
        return "cast(0 as double)"
    column = f"cast(`{feature}` as double)"
    return "cast(" + " + ".join(f"case when {column} >= {_double(e)} then 1 else 0 end"
                                for e in inner) + " as double)"


def distinct_vectors(spark, edges: dict[str, list[float]], onehot: list[str]):
    """The distinct binned vectors of the candidates and their customer counts, from Spark."""
    parts = [bin_expression(f, e) for f, e in edges.items()]
    parts += [f"cast(`{f}` as double)" for f in onehot]
    names = [f"c{j}" for j in range(len(parts))]
    select = ", ".join(f"{p} as {n}" for p, n in zip(parts, names))
    rows = spark.sql(f"select {', '.join(names)}, count(*) as n from (select {select} "
                     f"from {FEATURES}) group by {', '.join(names)}").collect()
    distinct = np.array([list(r)[:-1] for r in rows], dtype=float).reshape(len(rows), len(parts))
    counts = np.array([r[-1] for r in rows], dtype=np.int64)
    return distinct, counts


def assign(spark, model, ids: list[int]) -> None:
    """Every customer's segment in Spark SQL, by the one assignment rule; view ``segments__assigned``."""
    from pyspark.sql.types import (DoubleType, IntegerType, LongType, StringType, StructField,
                                   StructType)

    edge_rows = [(f, int(b), float(e[b]), float(e[b + 1]))
                 for f, e in model.bin_edges_.items() if f in model.features_
                 for b in range(len(e) - 1)]
    spark.createDataFrame(edge_rows, StructType([
        StructField("feature", StringType()), StructField("bin", LongType()),
        StructField("lower", DoubleType()), StructField("upper", DoubleType())])
    ).createOrReplaceTempView("segkit_bin_edges")
    centroid_rows = [(int(ids[i]), i, model.segment_names_[i], f, float(model.centroids_[i, j]))
                     for i in range(model.k_) for j, f in enumerate(model.features_)]
    spark.createDataFrame(centroid_rows, StructType([
        StructField("segment_id", IntegerType()), StructField("segment_index", IntegerType()),
        StructField("segment_name", StringType()), StructField("feature", StringType()),
        StructField("centroid", DoubleType())])).createOrReplaceTempView("segkit_centroids")
    # The rule reads a customer only through its binned vector (the bins, the one-hot
    # values), so it runs on one customer per distinct vector (at most n_bins ** d) and
    # every customer gets its vector's segment and distance by a broadcast join. The
    # rule over every customer unpivoted a row per customer and feature and shuffled
    # them three times: at 1M customers, most of the assign stage.
    keys = [f"{_vector_part(model, f)} as k{j}" for j, f in enumerate(model.features_)]
    spark.sql(f"select customer_id, {', '.join(keys)} from {FEATURES}"
              ).createOrReplaceTempView("segkit_binned")
    materialize(spark, "segkit_one_per_vector", f"""
        with firsts as (
            select min(customer_id) as customer_id from segkit_binned
            group by {', '.join(f"k{j}" for j in range(len(keys)))}
        )
        select /*+ broadcast(firsts) */ f.* from {FEATURES} f
        left semi join firsts on f.customer_id = firsts.customer_id""")
    context = for_dialect(segment_context(model.features_), "spark")
    sql = project.render_string(
        "with {{ assign_segments('segkit_one_per_vector', segment_features, "
        "edges='segkit_bin_edges', centroids='segkit_centroids') }}\n"
        f"select {', '.join(keys)}, a.segment_id, a.segment_name, a.distance_to_centroid\n"
        "from assigned a join segkit_one_per_vector using (customer_id)",
        context, dialect="spark")
    materialize(spark, "segkit_vector_segments", sql)
    same_vector = " and ".join(f"b.k{j} <=> v.k{j}" for j in range(len(keys)))
    spark.catalog.dropTempView(ASSIGNED)  # the last build's, in a long-lived session
    materialize(spark, ASSIGNED, f"""
        select /*+ broadcast(v) */ b.customer_id, v.segment_id, v.segment_name,
               v.distance_to_centroid
        from segkit_binned b join segkit_vector_segments v on {same_vector}""")


def _vector_part(model, feature: str) -> str:
    """A feature's coordinate in the binned vector: its bin, or a one-hot value as it is."""
    if feature in model.bin_edges_:
        return bin_expression(feature, model.bin_edges_[feature])
    return f"cast(`{feature}` as double)"


def _sample_positions(model, sample_size: int, rng) -> dict[int, np.ndarray]:
    """Per segment, the ranks (by customer_id) of the customers the map samples.

    The DuckDB build samples from its customers in customer_id order with
    :func:`segkit.model.tsne.stratified_sample`. Which ranks within a segment
    it draws depends only on the segments' sizes, so the same function on
    labels laid out segment by segment draws the same ranks from the same rng.
    """
    from segkit.model.tsne import stratified_sample

    sizes = model.segment_sizes_.astype(np.int64)
    laid_out = np.repeat(np.arange(model.k_, dtype=np.int16), sizes)
    picked = stratified_sample(laid_out, sample_size, rng)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    segment = laid_out[picked]
    return {int(s): picked[segment == s] - starts[s] for s in np.unique(segment)}


def map_sample(spark, model, ids: list[int], sample_size: int, seed: int):
    """The DuckDB engine's t-SNE map (:meth:`DuckDBEngine.map_sample`), for customers in Spark.

    The sample is drawn as the DuckDB build draws it (see :func:`_sample_positions`);
    Spark returns the sampled customers (at most ``sample_size`` rows: id, segment,
    binned vector) in customer_id order, and the map is drawn from them by
    :func:`segkit.model.tsne_map` with the same generator, so the coordinates
    are the DuckDB build's. Returns ``(tsne, sample)``: the map and the sample's
    ``customer_id`` and ``segment_id``, in the order of ``tsne.indices``' rows.
    """
    import polars as pl
    from pyspark.sql.types import IntegerType, StructField, StructType

    from segkit.model import tsne_map

    rng = np.random.default_rng(seed)
    picks = [(s, int(p)) for s, positions in _sample_positions(model, sample_size, rng).items()
             for p in positions]
    spark.createDataFrame(picks, StructType([
        StructField("segment_index", IntegerType()), StructField("position", IntegerType())])
    ).createOrReplaceTempView("segkit_map_picks")
    index = " ".join(f"when {int(ids[i])} then {i}" for i in range(model.k_))
    bins = ", ".join(f"{_vector_part(model, f)} as b{j}" for j, f in enumerate(model.features_))
    sample = pl.from_arrow(spark.sql(f"""
        with ranked as (
            select customer_id, segment_id, case segment_id {index} end as segment_index,
                   row_number() over (partition by segment_id order by customer_id) - 1
                       as position
            from {ASSIGNED}
        )
        select r.customer_id, r.segment_id, r.segment_index, {bins}
        from ranked r
        join segkit_map_picks p using (segment_index, position)
        join {FEATURES} using (customer_id)
        order by r.customer_id""").toArrow())
    vectors = sample.select(f"b{j}" for j in range(len(model.features_))).to_numpy()
    # Every sampled customer is mapped: tsne_map draws no sample of its own and goes
    # on with the generator where the sampling left it, as in the DuckDB build.
    tsne = tsne_map(vectors, sample["segment_index"].to_numpy(),
                    sample_size=max(sample.height, 2), seed=rng, method="distinct")
    tsne.info["seed"] = int(seed)
    return tsne, sample.select("customer_id", "segment_id")


def example_rows(spark, features: list[str], n: int = 5):
    """A few customers' feature rows: the input example MLflow logs with the model."""
    import polars as pl

    columns = ", ".join(f"`{f}`" for f in features)
    return pl.from_arrow(spark.sql(f"select {columns} from {FEATURES} limit {int(n)}").toArrow())
