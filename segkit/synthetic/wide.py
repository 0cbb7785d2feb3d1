"""A wide, customers-only table (a dozen numeric columns, no transactions) and its segkit.toml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from segkit.errors import GenerateArgumentError
from segkit.synthetic.files import _write
from segkit.synthetic.streams import _id_width

_WIDE_SPEND = (  # column, log-mean at average affluence, affluence effect, share of zeros
    ("MntWines", 5.2, 1.1, 0.01),
    ("MntFruits", 2.6, 0.9, 0.18),
    ("MntMeatProducts", 4.5, 1.2, 0.01),
    ("MntFishProducts", 3.0, 0.9, 0.17),
    ("MntSweetProducts", 2.6, 0.9, 0.19),
    ("MntGoldProds", 3.4, 0.7, 0.03),
)
_WIDE_COUNTS = (  # column, mean at average affluence, affluence effect (log scale)
    ("NumDealsPurchases", 2.3, -0.25),
    ("NumWebPurchases", 4.0, 0.35),
    ("NumCatalogPurchases", 2.6, 0.8),
    ("NumStorePurchases", 5.8, 0.35),
    ("NumWebVisitsMonth", 5.3, -0.3),
)
_WIDE_TOML = """\
warehouse = "warehouse/segkit.duckdb"
reports_dir = "reports"

[customers]
path = "{customers}"
customer_id = "CustomerID"
birth_year = "Year_Birth"
numeric = [{numeric}]
"""


def generate_wide_customers(out_dir, *, customers: int = 2240, seed: int = 0) -> dict:
    """A customers-only table of a dozen numeric attributes, and its ``segkit.toml``.

    The shape of a typical marketing extract ("marketing campaign" style, no
    transactions): ``Year_Birth``, ``Income`` and, driven by one latent
    affluence, spend per product category (``MntWines`` ... ``MntGoldProds``,
    some with many zeros) and purchases per channel (``NumDealsPurchases`` ...
    ``NumWebVisitsMonth``). Nearly every customer is a distinct binned vector,
    which is what makes it the wide regime of the benchmark. The same
    ``(customers, seed)`` gives byte-identical files.

    Returns
    -------
    dict
        ``paths`` (``customers``, ``config``) and ``customers`` (int).
    """
    if isinstance(customers, bool) or int(customers) != customers or customers < 1:
        raise GenerateArgumentError(f"customers must be a positive integer, got {customers!r}.")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise GenerateArgumentError(f"seed must be a non-negative integer, got {seed!r}.")
    n = int(customers)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 101]))
    z = rng.standard_normal(n)  # affluence
    birth = np.clip(np.rint(rng.normal(1969.0, 12.0, n) - 3.0 * z), 1940, 2006).astype(np.int64)
    income = np.rint(np.exp(np.log(52_000.0) + 0.35 * z + 0.2 * rng.standard_normal(n)))
    columns: dict[str, np.ndarray] = {"Year_Birth": birth, "Income": income}
    for name, mu, effect, zeros in _WIDE_SPEND:
        spend = np.rint(np.exp(mu + effect * z + 0.8 * rng.standard_normal(n)))
        spend[rng.random(n) < zeros] = 0.0
        columns[name] = spend
    for name, mean, effect in _WIDE_COUNTS:
        columns[name] = rng.poisson(mean * np.exp(effect * z)).astype(np.int64)
    width = _id_width(n)
    df = pl.DataFrame({"CustomerID": [f"W{i:0{width}d}" for i in range(1, n + 1)], **columns})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(df, out / "customers.parquet", "parquet")
    numeric = ["Income"] + [c for c, *_ in _WIDE_SPEND] + [c for c, *_ in _WIDE_COUNTS]
    config = out / "segkit.toml"
    config.write_text(_WIDE_TOML.format(customers="customers.parquet",
                                        numeric=", ".join(f'"{c}"' for c in numeric)))
    return {"paths": {"customers": str(out / "customers.parquet"), "config": str(config)},
            "customers": n}
