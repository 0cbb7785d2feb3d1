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


# -- every numeric setting has a range, checked with the config (exit 2, before any SQL) --

@pytest.mark.parametrize("section, line, message", [
    ("model", "n_bins = 1", "n_bins = 1 is out of range; use an integer from 2 to 100."),
    ("model", "k_min = 1", "k_min = 1 is out of range; use an integer from 2 to 100."),
    ("model", "k = 1", "k = 1 is out of range; use an integer from 2 to 100."),
    ("model", "k_min = 5\nk_max = 3", "need k_min <= k_max (got k_min = 5, k_max = 3)."),
    ("model", "n_init = 0", "n_init = 0 is out of range; use an integer from 1 to 10000."),
    ("model", "n_resamples = 0", "n_resamples = 0 is out of range; use an integer from 1 to "
                                 "10000."),
    ("model", "correlation_threshold = 0", "correlation_threshold = 0 is out of range; use a "
                                           "number in (0, 1]."),
    ("model", "stability_threshold = 1.5", "stability_threshold = 1.5 is out of range; use a "
                                           "number in [0, 1]."),
    ("model", "seed = -1", "seed = -1 is out of range; use an integer from 0 to 4294967295."),
    ("model", "features = []", "features = [] needs at least one feature name, each once"),
    ("model", 'features = ["frequency", "frequency"]', "needs at least one feature name, "
                                                       "each once"),
    ("model", "tsne_sample_size = 1", "tsne_sample_size = 1 is out of range; use an integer "
                                      "from 10 to 10000000."),
    ("features", "top_levels = 0", "top_levels = 0 is out of range; use an integer >= 1."),
    ("features", "min_level_share = 1", "min_level_share = 1 is out of range; use a number in "
                                        "[0, 1)."),
    ("features", "cap_quantiles = [0.5, 2]", "cap_quantiles = [0.5, 2] is out of range; use "
                                             "two quantiles 0 <= low < high <= 1"),
    ("features", "age_range = [-5, 100]", "age_range = [-5, 100] is out of range; use two ages "
                                          "0 <= low < high <= 150"),
    ("duckdb", "threads = 0", "threads = 0 is out of range; use an integer from 1 to 1024."),
    ("duckdb", "lock_timeout_seconds = -1", "lock_timeout_seconds = -1 is out of range"),
    ("duckdb", "history_builds = -1", "history_builds = -1 is out of range; use an integer "
                                      ">= 0 (0 keeps every build)."),
    ("duckdb", 'memory_limit = "lots"', "memory_limit = 'lots' is not a size; use a number and "
                                        "a unit, e.g. \"4GB\""),
    ("duckdb", 'storage_compatibility_version = "1.0"', "storage_compatibility_version = '1.0' "
                                                        "is not a DuckDB version"),
])
def test_out_of_range_values_are_config_errors(tmp_path, section, line, message):
    path = write_config(tmp_path, MINIMAL + f"\n[{section}]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"segkit.toml [{section}]: "), str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("args, message", [
    (["--k", "1"], "Error: --k 1 is out of range; use an integer from 2 to 100."),
    (["--k", "0"], "Error: --k 0 is out of range; use an integer from 2 to 100."),
    (["--seed", "-3"], "Error: --seed -3 is out of range; use an integer from 0 to 4294967295."),
    (["--as-of", "31/01/2024"], 'Error: --as-of "31/01/2024" is not a date; use YYYY-MM-DD, '
                                "e.g. 2024-01-31."),
])
def test_build_flags_are_checked_like_their_keys_before_any_sql(tmp_path, capsys, args,
                                                                message):
    from segkit import cli

    config = write_config(tmp_path, MINIMAL + "\n[mlflow]\nenabled = false\n")
    code = cli.main(["build", "--config", str(config), *args])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and err == message
    # Refused before the build began: nothing was written, not even the run journal.
    assert not (tmp_path / "warehouse").exists()


def test_runs_limit_and_generate_seed_are_checked(tmp_path, capsys):
    from segkit import cli

    code = cli.main(["runs", "--config", str(write_config(tmp_path, MINIMAL)), "--limit", "0"])
    assert code == 2
    assert "--limit 0 is out of range" in capsys.readouterr().err
    code = cli.main(["generate", "--transactions", "10", "--out", str(tmp_path / "g"),
                     "--seed", "-1"])
    assert code == 2
    assert "--seed -1 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_cancellation_prefix_is_opt_in_and_needs_order_id(tmp_path):
    assert load_config(write_config(tmp_path, MINIMAL)).transactions.cancellation_prefix is None
    path = write_config(tmp_path, MINIMAL + 'cancellation_prefix = "C"\n')
    with pytest.raises(ConfigError, match=r"\[transactions\]: cancellation_prefix needs "
                                          r"order_id"):
        load_config(path)
    path = write_config(tmp_path, MINIMAL + 'order_id = "x"\ncancellation_prefix = ""\n')
    with pytest.raises(ConfigError, match="would mark every order as cancelled"):
        load_config(path)


def test_template_writes_the_cancellation_prefix_commented_with_an_example(tmp_path):
    text = write_template(tmp_path / "segkit.toml").read_text()
    line = next(x for x in text.splitlines() if "cancellation_prefix" in x)
    assert line.startswith('# cancellation_prefix = "C"') and "opt-in" in line
    assert "# history_builds = 10" in text


# -- money: the decimals kept ---------------------------------------------------------

def test_money_decimals_default_to_four_kept_and_two_for_averages(tmp_path):
    cfg = load_config(write_config(tmp_path, MINIMAL))
    assert (cfg.transactions.amount_decimals, cfg.features.money_decimals) == (4, 2)
    cfg = load_config(write_config(tmp_path, MINIMAL + "amount_decimals = 8\n"
                                   "[features]\nmoney_decimals = 8\n"))
    assert (cfg.transactions.amount_decimals, cfg.features.money_decimals) == (8, 8)


@pytest.mark.parametrize("transactions, features, message", [
    ("amount_decimals = 13", "", "segkit.toml [transactions]: amount_decimals = 13 is out of "
                                 "range; use an integer from 0 to 12."),
    ("amount_decimals = -1", "", "segkit.toml [transactions]: amount_decimals = -1 is out of "
                                 "range; use an integer from 0 to 12."),
    ('amount_decimals = "4"', "", "segkit.toml [transactions]: amount_decimals = '4' is not "
                                  "valid; expected an integer."),
    ("amount_decimals = 2.5", "", "segkit.toml [transactions]: amount_decimals = 2.5 is not "
                                  "valid; expected an integer."),
    ("", "money_decimals = -1", "segkit.toml [features]: money_decimals = -1 is out of range; "
                                "use an integer from 0 to 12."),
    ("", "money_decimals = 5", "segkit.toml [features]: money_decimals = 5 is more than "
                               "[transactions] amount_decimals = 4: an average spend keeps no "
                               "more decimals than the amounts it averages. Use an integer "
                               "from 0 to 4, or raise amount_decimals."),
    ("amount_decimals = 0", "money_decimals = 1", "money_decimals = 1 is more than "
                                                  "[transactions] amount_decimals = 0"),
])
def test_money_decimals_out_of_range_are_config_errors(tmp_path, capsys, transactions, features,
                                                       message):
    from segkit import cli

    path = write_config(tmp_path, MINIMAL + f"{transactions}\n[features]\n{features}\n"
                                            "[mlflow]\nenabled = false\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value), str(info.value)
    # the CLI: exit 2 with the message, before any SQL
    code = cli.main(["build", "--config", str(path)])
    assert code == 2 and message in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "warehouse").exists()


def test_template_shows_the_money_keys_and_they_load(tmp_path):
    from segkit.config import TEMPLATE

    assert "# amount_decimals = 4" in TEMPLATE and "# money_decimals = 2" in TEMPLATE
    text = TEMPLATE.replace("# amount_decimals = 4", "amount_decimals = 4").replace(
        "# [features]", "[features]").replace("# money_decimals = 2", "money_decimals = 2")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("CustomerID,InvoiceDate,Revenue\n")
    (tmp_path / "segkit.toml").write_text(text)
    cfg = load_config(tmp_path / "segkit.toml")
    assert (cfg.transactions.amount_decimals, cfg.features.money_decimals) == (4, 2)
