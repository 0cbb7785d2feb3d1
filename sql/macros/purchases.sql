{#
  The keys a purchase is grouped by besides customer and day, on one line, each
  followed by a comma: the order when frequency counts orders, then each
  categorical column (nothing when there are none). One list for the line
  groups (cleaning.line_groups) and the purchases made exact from them
  (cleaning.purchases), which must agree column for column.
#}
{% macro purchase_keys(by_order, categorical) -%}
{%- for key in (['order_id'] if by_order else []) + categorical | map(attribute='name') | list -%}
{{ key }},{{ ' ' if not loop.last }}
{%- endfor -%}
{%- endmacro %}
