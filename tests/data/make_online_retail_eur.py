"""Write online_retail_eur.csv: the real lines of online_retail_lines.csv priced in
euros to 4 decimals, and a few hand-made customers whose averages are exact
half-cent ties. Run from the repository root: python tests/data/make_online_retail_eur.py

An export of this shape (an ERP's lines converted to another currency) keeps 4
decimals per line: a build must sum them exactly and round each average once.
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).parent
GBP_TO_EUR = Decimal("1.1687")
FOUR = Decimal("0.0001")
COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country", "UnitPriceEUR", "AmountEUR"]

# customer -> purchase days, each a list of line amounts in euros; the average per
# day is in the comment (total / days, then half-up to cents)
TIES = {
    "99001": [["326.5000"], ["326.5100"]],                  # 653.01 / 2 = 326.505 -> 326.51
    "99002": [["37.0000"], ["37.3900"]],                    # 74.39 / 2 = 37.195 -> 37.20
    "99003": [["10.0000", "2.3450"]],                       # 12.345 -> 12.35
    "99004": [["1.0000"], ["1.2000"], ["1.3400"], ["1.4000"]],  # 4.94 / 4 = 1.235 -> 1.24
    "99005": [["10.0000"], ["10.0050"], ["10.0100"]],       # 30.015 / 3 = 10.005 -> 10.01
    "99006": [["10.0049"], ["10.0050"]],                    # 20.0099 / 2 = 10.00495 -> 10.00
    "99007": [["0.1000"], ["0.1500"]],                      # 0.25 / 2 = 0.125 -> 0.13
    "99008": [["2.6750"]],                                  # 2.675 -> 2.68
    "99009": [["0.3333", "0.3333", "0.3334"], ["0.0100"]],  # 1.01 / 2 = 0.505 -> 0.51
    "99010": [["1234567.8900"], ["1234567.9000"]],          # 1234567.895 -> 1234567.90
    "99011": [["0.1428"]] * 6 + [["0.1432"]],               # 1 / 7 = 0.142857 -> 0.14
    "99012": [["0.0001"], ["0.0100"]],                      # 0.0101 / 2 = 0.00505 -> 0.01
}


def real_lines() -> list[dict[str, str]]:
    with open(HERE / "online_retail_lines.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        price = (Decimal(row["UnitPrice"]) * GBP_TO_EUR).quantize(FOUR, ROUND_HALF_UP)
        row["UnitPriceEUR"] = str(price)
        row["AmountEUR"] = str(int(row["Quantity"]) * price)
    return rows


def hand_made_lines() -> list[dict[str, str]]:
    rows, invoice = [], 539001
    for customer, days in TIES.items():
        for day, amounts in enumerate(days, 1):
            for line, amount in enumerate(amounts):
                rows.append({
                    "InvoiceNo": str(invoice), "StockCode": f"9{line:04d}",
                    "Description": "GIFT VOUCHER", "Quantity": "1",
                    "InvoiceDate": f"2010-12-0{day} 10:{line:02d}:00",
                    "UnitPrice": str((Decimal(amount) / GBP_TO_EUR).quantize(Decimal("0.01"))),
                    "CustomerID": f"{customer}.0", "Country": "United Kingdom",
                    "UnitPriceEUR": amount, "AmountEUR": amount})
            invoice += 1
    return rows


if __name__ == "__main__":
    with open(HERE / "online_retail_eur.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(real_lines() + hand_made_lines())
