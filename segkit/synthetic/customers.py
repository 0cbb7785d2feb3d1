"""The generated customers table ("marketing campaign" style): demographics with their dirt."""

from __future__ import annotations

import numpy as np
import polars as pl

from segkit.synthetic.plan import _Plan
from segkit.synthetic.streams import _S_CUSTOMERS, _id_width, _pick, _rng

_EDUCATION = [  # level, probability, log-income effect
    ("Graduation", 0.500, 0.00),
    ("PhD", 0.215, 0.12),
    ("Master", 0.165, 0.06),
    ("2n Cycle", 0.090, -0.10),
    ("Basic", 0.024, -0.85),
    ("Primary", 0.006, -1.00),
]
_MARITAL = [
    ("Married", 0.386),
    ("Together", 0.259),
    ("Single", 0.214),
    ("Divorced", 0.104),
    ("Widow", 0.0337),
    ("Alone", 0.0013),
    ("Absurd", 0.0010),
    ("YOLO", 0.0010),
]
_MARITAL_JUNK = ("Alone", "Absurd", "YOLO")
_ABSURD_BIRTH_YEARS = np.array([1893, 1899, 1900, 2030], dtype=np.int64)

# The steps below draw from one stream in a fixed order: reordering them changes the data.


def _birth_years(rng, n: int) -> np.ndarray:
    birth = np.clip(np.rint(rng.normal(1969.0, 12.0, n)), 1940, 2006).astype(np.int64)
    idx = _pick(rng, n, 1e-4, 2 if n >= 20 else 0)
    vals = rng.choice(_ABSURD_BIRTH_YEARS, size=idx.size)
    if idx.size >= 2:
        vals[0], vals[1] = 1893, 2030
    birth[idx] = vals
    return birth


def _education_and_income(rng, birth, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Education level, income (a few huge outliers) and which incomes are known."""
    n = birth.size
    edu_p = np.array([p for _, p, _ in _EDUCATION])
    edu = rng.choice(len(_EDUCATION), size=n, p=edu_p / edu_p.sum())
    edu_effect = np.array([e for _, _, e in _EDUCATION])[edu]
    age = 2025 - np.clip(birth, 1940, 2006)
    log_income = (
        np.log(48_000.0)
        + edu_effect
        + 0.006 * (age - 55)
        + 0.12 * z
        + 0.33 * rng.standard_normal(n)
    )
    income = np.maximum(1730.0, np.rint(np.exp(log_income)))
    income_valid = np.ones(n, dtype=bool)
    income_valid[_pick(rng, n, 0.05, 1 if n >= 20 else 0)] = False
    idx = _pick(rng, n, 1e-4, 1 if n >= 20 else 0, exclude=~income_valid)
    huge = np.rint(rng.uniform(1.5e6, 6e6, idx.size))
    if idx.size:
        huge[0] = 666666.0
    income[idx] = huge
    return edu, income, income_valid


def _gender_and_marital(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    gender = rng.choice(2, size=n, p=[0.53, 0.47]).astype(np.int64)
    gender[_pick(rng, n, 0.03, 1 if n >= 20 else 0)] = -1
    mar_p = np.array([p for _, p in _MARITAL])
    marital = rng.choice(len(_MARITAL), size=n, p=mar_p / mar_p.sum())
    if n >= 50:  # make sure each junk level appears at least once
        names = [name for name, _ in _MARITAL]
        idx = rng.choice(n, size=len(_MARITAL_JUNK), replace=False)
        marital[idx] = [names.index(j) for j in _MARITAL_JUNK]
    return gender, marital


def _customers_frame(plan: _Plan, seed: int) -> pl.DataFrame:
    rng = _rng(seed, _S_CUSTOMERS)
    n = plan.n_customers
    birth = _birth_years(rng, n)
    edu, income, income_valid = _education_and_income(rng, birth, plan.cust_latent)
    gender, marital = _gender_and_marital(rng, n)
    df = pl.DataFrame(
        {
            "_id": np.arange(1, n + 1, dtype=np.int64),
            "Year_Birth": birth,
            "Income": income,
            "_income_valid": income_valid,
            "_gender": gender,
            "Education": pl.Series([e for e, _, _ in _EDUCATION], dtype=pl.String).gather(
                edu.astype(np.uint32)
            ),
            "Marital_Status": pl.Series([s for s, _ in _MARITAL], dtype=pl.String).gather(
                marital.astype(np.uint32)
            ),
        }
    )
    return df.select(
        pl.concat_str(pl.lit("C"), pl.col("_id").cast(pl.String).str.zfill(_id_width(n))).alias(
            "CustomerID"
        ),
        pl.col("Year_Birth"),
        pl.when(pl.col("_income_valid")).then(pl.col("Income")).alias("Income"),
        pl.when(pl.col("_gender") == 0)
        .then(pl.lit("F"))
        .when(pl.col("_gender") == 1)
        .then(pl.lit("M"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("Gender"),
        pl.col("Education"),
        pl.col("Marital_Status"),
    )
