"""Seeded synthetic customer / transaction data for tests and benchmarks.

The generator produces an "Online Retail"-like transaction table (UCI Online
Retail style, including its dirt) and a "marketing campaign"-like customer
table (iFood style), at any size from a few rows to 100M+ transactions, in
bounded memory.

Determinism
-----------
The output is a pure function of ``(seed, transactions, format)``: the same
arguments produce byte-identical files.  Random numbers come from
``numpy.random.default_rng(SeedSequence([seed, stream, chunk_index]))``, so
every chunk has its own reproducible stream.

Layout
------
``generate(out_dir, transactions=N, format=fmt)`` writes::

    out_dir/
        customers.<fmt>                 one row per customer
        transactions.<fmt>              when N <= 1_000_000 (one chunk), or
        transactions/part-00000.<fmt>   ... one file per 1M-row chunk otherwise
        segkit.toml                     example config mapping the files above

Paths inside ``segkit.toml`` are relative to ``out_dir``.  The returned dict
gives the transactions path *or glob* (``transactions/part-*.parquet``) under
``paths["transactions"]``.

Modules: ``streams`` (seeded streams, calendar, row picking), ``plan`` (the
invoice-level plan), ``transactions`` (one chunk of transaction lines),
``customers`` (the customers table), ``files`` (``generate``: checks, writing,
``segkit.toml``), ``wide`` (``generate_wide_customers``).
"""

from segkit.errors import GenerateArgumentError
from segkit.synthetic.files import generate
from segkit.synthetic.wide import generate_wide_customers

__all__ = ["generate", "generate_wide_customers", "GenerateArgumentError"]
