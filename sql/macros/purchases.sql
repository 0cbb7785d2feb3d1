{#
  The keys the lines used are grouped by besides customer and day, on one line,
  each followed by a comma: the order when an order id is mapped (so orders
  can be counted, whatever frequency counts), then each categorical column
  (nothing when there are none). One list for the line
  groups (cleaning.line_groups) and the purchases made exact from them
  (cleaning.purchases), which must agree column for column.
#}
{% macro purchase_keys(has_order, categorical) -%}
{%- for key in (['order_id'] if has_order else []) + categorical | map(attribute='name') | list -%}
{{ key }},{{ ' ' if not loop.last }}
{%- endfor -%}
{%- endmacro %}
