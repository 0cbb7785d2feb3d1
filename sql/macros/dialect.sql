{#-
  Cross-database macros: the only place where DuckDB and Spark SQL differ.
  A model calls {{ days_between(a, b) }}; the render picks the dialect's
  spelling (`segkit sql render MODEL --dialect spark`). docs/SQL.md lists them.
-#}

{#- Text of a source value, blank as null: one rule for every id and label. -#}
{% macro as_text(expr) -%}
nullif(trim(cast({{ expr }} as {{ string_type() }})), '')
{%- endmacro %}

{#- The one customer-id normalisation: ids exported through a float column
    ("17850.0") mean "17850". Takes a column already passed through as_text. -#}
{% macro normalize_id(text_column) -%}
{%- if dialect == 'spark' -%}
case
            when {{ text_column }} rlike '^[0-9]+[.]0+$'
                then regexp_replace({{ text_column }}, '[.]0+$', '')
            else {{ text_column }}
        end
{%- else -%}
case
            when regexp_full_match({{ text_column }}, '[0-9]+[.]0+')
                then regexp_replace({{ text_column }}, '[.]0+$', '')
            else {{ text_column }}
        end
{%- endif -%}
{%- endmacro %}

{#- The name of the text type in casts. -#}
{% macro string_type() -%}
{%- if dialect == 'spark' %}string{% else %}varchar{% endif -%}
{%- endmacro %}

{#- A timestamp from text, trying each strftime format in turn; null if none fits. -#}
{% macro parse_timestamp(expr, formats) -%}
{%- if dialect == 'spark' -%}
coalesce(
            {%- for format in formats %}
            try_to_timestamp({{ expr }}, {{ format | replace('%Y', 'yyyy') | replace('%m', 'MM') | replace('%d', 'dd') | replace('%H', 'HH') | replace('%M', 'mm') | replace('%S', 'ss') | replace('%y', 'yy') }}){% if not loop.last %},{% endif %}
            {%- endfor %}
        )
{%- else -%}
try_strptime({{ expr }}, [{{ formats | join(', ') }}])
{%- endif -%}
{%- endmacro %}

{#- Whole days from start to end (a later end is positive). -#}
{% macro days_between(start, end) -%}
{%- if dialect == 'spark' -%}
datediff({{ end }}, {{ start }})
{%- else -%}
date_diff('day', {{ start }}, {{ end }})
{%- endif -%}
{%- endmacro %}

{#- A hash of a whole source row, to find exact repeats. -#}
{% macro row_hash(relation) -%}
{%- if dialect == 'spark' -%}
xxhash64(*)
{%- else -%}
hash({{ relation }})
{%- endif -%}
{%- endmacro %}

{#- True when text starts with a prefix. -#}
{% macro starts_with(expr, prefix) -%}
{%- if dialect == 'spark' -%}
startswith({{ expr }}, {{ prefix }})
{%- else -%}
starts_with({{ expr }}, {{ prefix }})
{%- endif -%}
{%- endmacro %}

{#- An observed value at quantile q (no interpolation: a capped count stays a count). -#}
{% macro quantile_disc(expr, q) -%}
{%- if dialect == 'spark' -%}
percentile_disc({{ q }}) within group (order by {{ expr }})
{%- else -%}
quantile_disc({{ expr }}, {{ q }})
{%- endif -%}
{%- endmacro %}

{#- The item at a 1-based position of an array column. -#}
{% macro array_item(expr, position) -%}
{%- if dialect == 'spark' -%}
element_at({{ expr }}, {{ position }})
{%- else -%}
{{ expr }}[{{ position }}]
{%- endif -%}
{%- endmacro %}
