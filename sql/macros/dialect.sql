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

{#- A source value as DECIMAL(precision, scale); null when it is not a
    number or does not fit. More decimals round half away from zero on both
    engines (half-up for positive amounts). kind (the render context's *_kind)
    says how the column is read: 'exact' (an integer, a DECIMAL whose scale is
    kept) is cast; 'text' (text, a DECIMAL with more decimals than kept) is
    read from its text; 'float' (a DOUBLE or FLOAT) as the number its shortest
    text spells (15.3, not 15.299999999999999; 561.045 is 561.05 at two
    decimals). DuckDB casts a DOUBLE by scaling it in binary (561.045 becomes
    561.04), Spark through its text: so a double is cast directly only where it
    is a number of at most `scale` decimals but for float noise (near_decimal:
    most money), where both casts agree, and read from its text elsewhere. -#}
{% macro to_decimal(expr, kind, precision, scale) -%}
{%- set direct = 'try_cast(' ~ expr ~ ' as decimal(' ~ precision ~ ', ' ~ scale ~ '))' -%}
{%- set from_text = 'try_cast(cast(' ~ expr ~ ' as ' ~ string_type() ~ ') as decimal('
                    ~ precision ~ ', ' ~ scale ~ '))' -%}
{%- if kind == 'exact' -%}
{{ direct }}
{%- elif kind == 'float' -%}
case
            when {{ near_decimal(expr, direct, scale) }} then {{ direct }}
            else {{ from_text }}
        end
{%- else -%}
{{ from_text }}
{%- endif -%}
{%- endmacro %}

{#- Whether a DOUBLE x is the DECIMAL `kept` (of `scale` decimals) but for
    float noise: at most 1e-12 of x apart, x below 10^(11 - scale), where that
    noise is far below half a unit of the last decimal kept. -#}
{% macro near_decimal(x, kept, scale) -%}
(abs({{ x }}) < 1e{{ 11 - scale }}
            and abs(cast({{ kept }} as double) - {{ x }}) <= 1e-12 * abs({{ x }}))
{%- endmacro %}

{#- Why a value read as `kept` differs from the `exact` value it was read
    from (both DECIMAL): null when it does not; 'float noise' when the digits
    rounded away move it by at most 1e-12 of itself (a double printed with 17
    digits, 15.299999999999999 read as 15.3: a double holds about 16
    significant digits, and float arithmetic disturbs only the last ones);
    'rounded' when they move it by more. -#}
{% macro rounding(exact, kept) -%}
case
            when {{ exact }} = {{ kept }} then null
            when abs(cast({{ kept }} as double) - cast({{ exact }} as double))
                <= 1e-12 * abs(cast({{ exact }} as double)) then 'float noise'
            else 'rounded'
        end
{%- endmacro %}

{#- The rounding of a value `kept` (DECIMAL, `scale` decimals) read by
    to_decimal from `source` of that kind: the text is read again, exactly,
    only where it is long enough to hold a digit beyond the scale. -#}
{% macro read_rounding(source, kind, kept, scale) -%}
{%- set text = 'cast(' ~ source ~ ' as ' ~ string_type() ~ ')' -%}
{%- set from_text -%}
case
                when length({{ text }}) <= {{ scale + 1 }} then null
                else {{ rounding('try_cast(' ~ text ~ ' as decimal(38, 18))', kept) }}
            end
{%- endset -%}
{%- if kind == 'exact' -%}
cast(null as {{ string_type() }})
{%- else -%}
case
            when {{ kept }} is null then null
            {% if kind == 'float' -%}
            when {{ near_decimal(source, kept, scale) }} then
                case when cast({{ kept }} as double) = {{ source }} then null else 'float noise' end
            {% endif -%}
            else {{ from_text }}
        end
{%- endif -%}
{%- endmacro %}

{#- A quotient of money by a count, exact and rounded once: numerator / denominator
    rounded half away from zero (half-up for positive amounts) to `digits`
    decimals, as DECIMAL(38, digits) on both engines. numerator is a DECIMAL
    with at most `scale` decimals (at most 12) below 10^24, denominator a
    positive integer. Neither engine divides exactly as it is: DuckDB divides
    a DECIMAL as a DOUBLE (653.01 / 2 = 326.50499...), Spark rounds the
    quotient at 6 decimals before round() rounds it again. So the quotient is
    found from an exact remainder: with both scaled to whole units of
    10^-work (work = the larger of scale and digits), t = q * m + r with
    m = denominator * 10^(work - digits), the result is q * 10^-digits, one step
    further from zero when 2 |r| >= m.
    DuckDB: in BIGINT, t read back exactly from the DOUBLE of the numerator
    (t below 10^15: the double's error is under 0.25); in HUGEINT, 128-bit
    division in software, 15 times slower, only for larger numbers. Spark: in
    DECIMAL, the operands cast so that no step exceeds 38 digits (Spark would
    round). -#}
{% macro round_quotient(numerator, denominator, digits, scale) -%}
{%- set work = [scale, digits] | max -%}
{%- set step = '1' if digits == 0 else '0.' ~ '0' * (digits - 1) ~ '1' -%}
{%- if dialect == 'spark' -%}
{%- set n = 'cast(' ~ numerator ~ ' as decimal(36, ' ~ work ~ '))' -%}
{%- set d = 'cast(' ~ denominator ~ ' as decimal(19, 0))' -%}
{%- set unit = '(' ~ d ~ ' * ' ~ step ~ ')' -%}
{%- set r = '(' ~ n ~ ' % ' ~ unit ~ ')' -%}
cast(
            ({{ n }} - {{ r }}
                + case
                    when abs({{ r }}) + abs({{ r }}) < {{ unit }} then 0
                    when {{ n }} < 0 then -{{ unit }}
                    else {{ unit }}
                end) / {{ d }}
            as decimal(38, {{ digits }}))
{%- else -%}
{%- set n = 'cast(' ~ numerator ~ ' as decimal(38, ' ~ work ~ '))' -%}
{%- set small_t = '(cast(round(cast(' ~ numerator ~ ' as double) * ' ~ 10 ** work ~ ') as bigint))' -%}
{%- set small_m = '(cast(' ~ denominator ~ ' as bigint) * ' ~ 10 ** (work - digits) ~ ')' -%}
{%- set t = '(cast(floor(' ~ n ~ ') as hugeint) * ' ~ 10 ** work ~ ' + cast((' ~ n ~ ' - floor(' ~ n ~ ')) * ' ~ 10 ** work ~ ' as hugeint))' -%}
{%- set m = '(cast(' ~ denominator ~ ' as hugeint) * ' ~ 10 ** (work - digits) ~ ')' -%}
cast(
            case
                when abs({{ numerator }}) < 1e{{ 15 - work }}
                    and {{ denominator }} < 1e{{ 18 - work + digits }}
                    then cast({{ small_t }} // {{ small_m }}
                        + case
                            when abs({{ small_t }} % {{ small_m }}) + abs({{ small_t }} % {{ small_m }})
                                < {{ small_m }} then 0
                            when {{ small_t }} < 0 then -1
                            else 1
                        end as decimal(38, 0))
                else cast({{ t }} // {{ m }}
                    + case
                        when abs({{ t }} % {{ m }}) + abs({{ t }} % {{ m }}) < {{ m }} then 0
                        when {{ t }} < 0 then -1
                        else 1
                    end as decimal(38, 0))
            end * {{ step }}
            as decimal(38, {{ digits }}))
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

{#- Spark's hint that a join's small side (a CTE or relation name) is sent
    whole to every task: a broadcast hash join, where the large side is not
    shuffled (Spark cannot tell a filtered aggregate is small). Written right
    after `select`; nothing on DuckDB, whose hash join builds on the smaller
    side by itself. -#}
{% macro broadcast(relation) -%}
{%- if dialect == 'spark' %}/*+ broadcast({{ relation }}) */{% endif -%}
{%- endmacro %}

{#- How many distinct non-null values a group holds, for groups of a few dozen
    values (a customer's purchase days or orders). Spark plans two count(distinct)
    of different columns in one aggregate as an Expand: every row once per distinct
    column and once more for the other aggregates, shuffled twice; a set per group
    is one partial aggregate and one shuffle. -#}
{% macro count_distinct_few(expr) -%}
{%- if dialect == 'spark' -%}
size(collect_set({{ expr }}))
{%- else -%}
count(distinct {{ expr }})
{%- endif -%}
{%- endmacro %}
