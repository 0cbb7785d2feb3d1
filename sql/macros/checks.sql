{#
  The checks a transaction line fails on its own values, in order: the first
  that fails is its quarantine reason (null when none does). One definition,
  called by the line-grain view (cleaning.transactions_screened) and by the
  aggregate that reads the source once (cleaning.line_groups). The reasons are
  the list in cleaning.quarantine_reasons.
#}
{% macro line_reason() -%}
case
            when customer_id is null then 'missing customer id'
            when ordered_at is null then 'missing or unparseable timestamp'
            when is_cancellation then 'cancellation or return'
            when amount is null and not is_amount_too_large then 'amount missing or not a number'
            when is_amount_too_large then 'amount too large'
            when amount <= 0 then 'amount zero or negative'
        end
{%- endmacro %}

{#
  The customer days that may hold an exact repeat (cleaning.line_groups): the
  lines set aside are the lines of these days, and the lines checked are
  those and their complement.
#}
{% macro repeat_days() -%}
select distinct
        customer_id,
        purchase_date
    from cleaning.line_groups
    where may_repeat
{%- endmacro %}
