"""The one list of behaviour features: what the SQL computes and what is clustered by default.

``sql/features/customer_rfm.sql`` computes the four behaviour columns per
customer; the model clusters the first three unless ``[model] features`` says
otherwise (tenure is profiled and shown, not clustered: docs/MODEL.md). Both
the SQL stage and the model read these names from here.
"""

BEHAVIOUR_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days")

#: Clustered when ``[model] features`` is not set.
RFM_FEATURES = BEHAVIOUR_FEATURES[:3]
