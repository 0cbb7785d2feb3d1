"""[features] labels: how names and the report call a column; checked like any key."""

import pytest

from segkit.config import DEMO_DATA, load_config, write_template
from segkit.errors import ConfigError
from tests.conftest import write_config

SOURCE = f"""
[transactions]
path = "{DEMO_DATA}"
customer_id = "customer_id"
timestamp = "purchase_date"
amount = "dollar_value"
categorical = ["customer_id"]
"""


def test_labels_are_read_in_order(tmp_path):
    cfg = load_config(write_config(tmp_path, SOURCE + '[features]\nlabels = { customer_id '
                                   '= "Customer", recency_days = "days since last order" }\n'))
    assert dict(cfg.features.labels) == {"customer_id": "Customer",
                                         "recency_days": "days since last order"}
    assert cfg.to_dict()["features"]["labels"] == [["customer_id", "Customer"],
                                                   ["recency_days", "days since last order"]]


def test_a_label_for_an_unknown_column_names_it_and_the_choices(tmp_path):
    path = write_config(tmp_path, SOURCE + '[features]\nlabels = { recency_day = "days" }\n')
    with pytest.raises(ConfigError, match=r'segkit.toml \[features\]: labels names "recency_day" '
                                          r'\(did you mean "recency_days"\?\), which is not a '
                                          r"feature column\. Label one of: recency_days, "):
        load_config(path)


def test_a_label_must_be_text(tmp_path):
    path = write_config(tmp_path, SOURCE + '[features]\nlabels = { monetary = 3 }\n')
    with pytest.raises(ConfigError, match=r"\[features\]: labels = \{'monetary': 3\} is not "
                                          r'valid; expected a table of column = "label" pairs'):
        load_config(path)
    path = write_config(tmp_path, SOURCE + '[features]\nlabels = ["monetary"]\n')
    with pytest.raises(ConfigError, match="expected a table of column"):
        load_config(path)


def test_the_template_shows_labels(tmp_path):
    assert "# labels = {" in write_template(tmp_path / "segkit.toml").read_text()
