"""How the report looks and speaks: segment colours, the font, words for stages and features."""

from __future__ import annotations


# Tableau 10: distinct, print-safe, and kind to the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "sans-serif")

# Plain words for the stages and features the pipeline names in code.
STAGE_LABELS = {
    "load": "Reading and checking rows (DuckDB)",
    "features": "Customer features (DuckDB)",
    "discretize": "Binning the features",
    "sweep": "K-Means sweep over k",
    "stability": "Bootstrap stability",
    "tsne": "Drawing the map (t-SNE)",
    "backtest": "Backtest (fit as of an earlier day)",
    "mlflow": "Tracking (MLflow)",
    "write-back": "Publishing to the warehouse",
    "report": "Rendering the report",
}
FEATURE_LABELS = {
    "recency_days": "Days since last purchase",
    "frequency": "Number of purchases",
    "monetary": "Spend per purchase",
    "tenure_days": "Days since first purchase",
    "age": "Age (years)",
}


def segment_color(segment_id: int) -> str:
    """The colour of a segment id, the same in every chart and every build."""
    return PALETTE[(int(segment_id) - 1) % len(PALETTE)]


def feature_label(name: str) -> str:
    """A feature's name in words (the column name itself when we have none)."""
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    words = (name[3:] if name.startswith("is_") else name).replace("_", " ")
    return words[:1].upper() + words[1:]


def _label(row: dict) -> str:
    """A profile row's feature as people call it: its source spelling or configured label."""
    label = row.get("label")
    return label if label and label != row["feature"] else feature_label(row["feature"])
