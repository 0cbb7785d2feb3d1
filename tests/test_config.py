"""segkit.toml validation: clear messages that name the file, key and fix."""

from pathlib import Path

import pytest

from segkit.config import DEMO_DATA, load_config, write_template
from segkit.errors import ConfigError
from tests.conftest import write_config

MINIMAL = f"""
[transactions]
path = "{DEMO_DATA}"
customer_id = "customer_id"
timestamp = "purchase_date"
amount = "dollar_value"
"""


def test_minimal_config_resolves_paths_against_its_folder(tmp_path):
    cfg = load_config(write_config(tmp_path, 'warehouse = "wh/x.duckdb"\n' + MINIMAL))
    assert cfg.warehouse == tmp_path / "wh" / "x.duckdb"
    assert cfg.reports_dir == tmp_path / "reports"
    assert cfg.model.n_bins == 4 and cfg.model.k_min == 2 and cfg.model.k_max == 10


def test_relative_source_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("a,b\n")
    cfg = load_config(write_config(tmp_path, MINIMAL.replace(str(DEMO_DATA), "data/orders.csv")))
    assert cfg.transactions.path == str(tmp_path / "data" / "orders.csv")


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write_config(tmp_path, MINIMAL.replace("amount =", "amout ="))
    with pytest.raises(ConfigError, match=r'segkit.toml \[transactions\]: unknown key "amout" '
                                          r'\(did you mean "amount"\?\)'):
        load_config(path)


def test_wrong_type_names_key_and_value(tmp_path):
    path = write_config(tmp_path, MINIMAL + "\n[model]\nn_bins = \"four\"\n")
    with pytest.raises(ConfigError, match=r"\[model\]: n_bins = 'four' is not valid; "
                                          r"expected an integer"):
        load_config(path)


def test_missing_required_key(tmp_path):
    path = write_config(tmp_path, MINIMAL.replace('timestamp = "purchase_date"\n', ""))
    with pytest.raises(ConfigError, match=r'missing required key "timestamp"'):
        load_config(path)


def test_missing_source_file_is_named(tmp_path):
    path = write_config(tmp_path, MINIMAL.replace(str(DEMO_DATA), "nope/orders.csv"))
    with pytest.raises(ConfigError, match=r'path = "nope/orders.csv" does not exist'):
        load_config(path)


def test_amount_or_quantity_and_price_required(tmp_path):
    path = write_config(tmp_path, MINIMAL.replace('amount = "dollar_value"', 'quantity = "q"'))
    with pytest.raises(ConfigError, match="either amount"):
        load_config(path)


def test_customers_only_needs_numeric_columns(tmp_path):
    (tmp_path / "c.csv").write_text("id,edu\n1,a\n")
    path = write_config(tmp_path, '[customers]\npath = "c.csv"\ncustomer_id = "id"\n'
                                  'categorical = ["edu"]\n')
    with pytest.raises(ConfigError, match="needs numeric columns"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist. Run `python -m segkit init`"):
        load_config(tmp_path / "segkit.toml")


def test_no_config_means_the_bundled_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert Path(cfg.transactions.path) == DEMO_DATA
    assert cfg.warehouse == tmp_path / "warehouse" / "segkit.duckdb"


def test_template_is_valid_once_its_data_exists(tmp_path):
    path = write_template(tmp_path / "segkit.toml")
    with pytest.raises(ConfigError, match="data/orders.csv"):
        load_config(path)  # the template points at data the user must supply
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("CustomerID,InvoiceDate,Revenue\n")
    cfg = load_config(path)
    assert cfg.transactions.customer_id == "CustomerID"
    with pytest.raises(ConfigError, match="already exists"):
        write_template(path)
