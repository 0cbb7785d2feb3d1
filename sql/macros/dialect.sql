{#-
  Cross-database macros: the only place where DuckDB and Spark SQL differ.
  A model calls {{ days_between(a, b) }}; the render picks the dialect's
  spelling (`segkit sql render MODEL --dialect spark`). docs/SQL.md lists them.
-#}

{#- Text of a source value, blank as null: one rule for every id and label.
    DuckDB's trim() removes only Unicode space separators (category Zs), and
    the only ASCII one is ' ': text that is all ASCII (as many bytes as
    characters) with no ' ' is returned as it is, and trim() runs only on the
    rest. The same values; at 10M ids, 0.23 s of CPU less per column read. -#}
{% macro as_text(expr) -%}
{%- if dialect == 'spark' -%}
nullif(trim(cast({{ expr }} as string)), '')
{%- else -%}
{%- set text = 'cast(' ~ expr ~ ' as varchar)' -%}
nullif(case
            when contains({{ text }}, ' ') or strlen({{ text }}) <> length({{ text }})
                then trim({{ text }})
            else {{ text }}
        end, '')
{%- endif -%}
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
            -- the regex only where it can match: most ids hold no dot
            when contains({{ text_column }}, '.')
                and regexp_full_match({{ text_column }}, '[0-9]+[.]0+')
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

{#- A quotient rounded to some digits, as DuckDB computes it: a DECIMAL divided
    by an integer is a DOUBLE q, and round(q, d) rounds q's exact binary value
    half away from zero. Spark's round() rounds q's shortest decimal text
    instead ("37.555" up, where q is 37.55499...): a cent apart on about 4 % of
    the demo's customers. Away from a half-cent tie both agree; at one, the
    sign of the exact 2 * 10^d * q - k2 decides, found without rounding error
    (Dekker's split of q: the parts times 2 * 10^d are exact doubles). -#}
{% macro round_quotient(numerator, denominator, digits) -%}
{%- if dialect == 'spark' -%}
{%- set q = '(cast(' ~ numerator ~ ' as double) / ' ~ denominator ~ ')' -%}
{%- set f = 'cast(' ~ (2 * 10 ** digits) ~ ' as double)' -%}
{%- set p = '(' ~ q ~ ' * ' ~ f ~ ')' -%}
{%- set k2 = 'round(' ~ p ~ ', 0)' -%}
{%- set c = '(' ~ q ~ ' * cast(134217729 as double))' -%}
{%- set high = '(' ~ c ~ ' - (' ~ c ~ ' - ' ~ q ~ '))' -%}
{%- set low = '(' ~ q ~ ' - ' ~ high ~ ')' -%}
{%- set error = '((' ~ high ~ ' * ' ~ f ~ ' - ' ~ p ~ ') + ' ~ low ~ ' * ' ~ f ~ ')' -%}
case
            when abs({{ p }} - {{ k2 }}) < cast(0.000001 as double)
                and pmod(cast({{ k2 }} as bigint), 2) = 1
                then ({{ k2 }} + case when ({{ p }} - {{ k2 }}) + {{ error }} < 0 then -1 else 1 end)
                    / 2 / cast({{ 10 ** digits }} as double)
            else round({{ q }}, {{ digits }})
        end
{%- else -%}
round({{ numerator }} / {{ denominator }}, {{ digits }})
{%- endif -%}
{%- endmacro %}

{#- One row per copy of a row counted n times (n >= 1): a generator of the
    copy numbers 0 .. n - 1 in the select list. -#}
{% macro each_copy(n) -%}
{%- if dialect == 'spark' -%}
explode(sequence(0, {{ n }} - 1))
{%- else -%}
unnest(range({{ n }}))
{%- endif -%}
{%- endmacro %}

{# One bit of a 64-bit word, picked by six bits of a row hash (slice 0 = the
   lowest six): bit_or over a group's lines, compared with bit_count, tells
   whether two of them could be the same content. #}
{% macro hash_bit(hash, slice) -%}
{%- if dialect == 'spark' -%}
shiftleft(cast(1 as bigint), cast(shiftright({{ hash }}, {{ 6 * slice }}) & 63 as int))
{%- else -%}
(cast(1 as ubigint) << ((({{ hash }}) >> {{ 6 * slice }}) & 63))
{%- endif -%}
{%- endmacro %}
