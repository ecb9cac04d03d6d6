{#- Appeals excluded because their local registration date is outside the production calendar (dim_date), which spans
    the lake from its first year to next year (lib/calendar.py): a date before 2000 or after next year is not a real
    registration. The test fails with an error that names the appeals, their dates and the calendar's span, instead of
    the deadline, overdue and dim_date tests of the fact failing without a word about the cause. -#}
{% test within_production_calendar(model, column_name, calendar) %}
{%- set outside -%}
    select appeal_key, region_code, {{ column_name }} as local_date, registered_at
    from {{ model }}
    where exclusion_reason = 'outside_production_calendar'
{%- endset -%}
{%- if execute -%}
    {%- set found = run_query('select count(*) from (' ~ outside ~ ') as outside').columns[0].values()[0] -%}
    {%- if found > 0 -%}
        {%- set span = run_query('select min(date_day), max(date_day) from ' ~ calendar).rows[0] -%}
        {%- set examples = run_query(outside ~ ' order by registered_at, appeal_key limit 5') -%}
        {%- set listed = [] -%}
        {%- for row in examples.rows -%}
            {%- do listed.append(row[0] ~ ' (region ' ~ row[1] ~ ') registered ' ~ row[2] ~ ' local, ' ~ row[3] ~ ' UTC') -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            found ~ " appeal(s) registered outside the production calendar " ~ span[0] ~ " … " ~ span[1]
            ~ " were excluded from fct_appeals (int_appeals_excluded, reason outside_production_calendar): "
            ~ listed | join('; ') ~ ". The calendar covers the lake from its first year (not before 2000) to next"
            ~ " year: such a date is not a real registration — fix the source record and land it again.") }}
    {%- endif -%}
{%- endif %}
{{ outside }}
{% endtest %}
