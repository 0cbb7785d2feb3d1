-- model:
--   materialized: view
--   published: run_table
--   history: meta.quarantine_history
--   grain: one row per rejected source row
--   not_null: source, reason
--   accepted_values: source = transactions | customers
-- One row per source row that segkit could not use, with the reason. Nothing
-- vanishes silently: these rows plus the usable ones are all the source rows.
with

{% if transactions -%}
-- the lines set aside hold every rejected line (cleaning.transactions_checked)
transactions as (
    select * from cleaning.transactions_set_aside
),
{%- endif %}

{% if customers -%}
customers as (
    select * from cleaning.customers_checked
),
{%- endif %}

rejected as (
    {% if transactions -%}
    select
        'transactions' as source,
        quarantine_reason as reason,
        customer_id,
        order_id,
        ordered_at_text,
        amount_text
    from transactions
    where quarantine_reason is not null
    {%- endif %}
    {% if transactions and customers %}union all{% endif %}
    {% if customers -%}
    select
        'customers' as source,
        quarantine_reason as reason,
        customer_id,
        null as order_id,
        null as ordered_at_text,
        null as amount_text
    from customers
    where quarantine_reason is not null
    {%- endif %}
)

select * from rejected
