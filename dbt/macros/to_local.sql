{#- The one time-zone rule of the platform, both ways: a region's local wall-clock time ↔ UTC through its IANA zone
    (dim_region.timezone) with the zone's historical offsets — Moscow was UTC+4 from 27.03.2011 to 26.10.2014,
    Sakhalin UTC+11 → +10 (2014) → +11 (2016), Saratov +3 → +4 (2016). Extraction converts the files' local times to
    UTC with the same zones (DuckDB's ICU time zones, defs/extract/conform.py). DuckDB: the ICU functions built into
    the engine; PostgreSQL: AT TIME ZONE with its own tz database; Spark: from_utc_timestamp / to_utc_timestamp with
    the JVM's tz database (its timestamps are read in the session time zone UTC: dbt/profiles.yml). -#}

{#- UTC timestamp (without zone) → the local wall-clock time of `time_zone`. -#}
{% macro to_local(timestamp_utc, time_zone) -%}
    {{ return(adapter.dispatch('to_local')(timestamp_utc, time_zone)) }}
{%- endmacro %}

{% macro duckdb__to_local(timestamp_utc, time_zone) -%}
    timezone({{ time_zone }}, timezone('UTC', {{ timestamp_utc }}))
{%- endmacro %}

{% macro spark__to_local(timestamp_utc, time_zone) -%}
    from_utc_timestamp({{ timestamp_utc }}, {{ time_zone }})
{%- endmacro %}

{% macro default__to_local(timestamp_utc, time_zone) -%}
    ((({{ timestamp_utc }}) at time zone 'UTC') at time zone {{ time_zone }})
{%- endmacro %}

{#- Local wall-clock time of `time_zone` → UTC timestamp (without zone). -#}
{% macro local_to_utc(timestamp_local, time_zone) -%}
    {{ return(adapter.dispatch('local_to_utc')(timestamp_local, time_zone)) }}
{%- endmacro %}

{% macro duckdb__local_to_utc(timestamp_local, time_zone) -%}
    timezone('UTC', timezone({{ time_zone }}, {{ timestamp_local }}))
{%- endmacro %}

{% macro spark__local_to_utc(timestamp_local, time_zone) -%}
    to_utc_timestamp({{ timestamp_local }}, {{ time_zone }})
{%- endmacro %}

{% macro default__local_to_utc(timestamp_local, time_zone) -%}
    ((({{ timestamp_local }}) at time zone {{ time_zone }}) at time zone 'UTC')
{%- endmacro %}

{#- The UTC moment at which a local date ends (local midnight of the next day): the expiry of a deadline date.
    Russian zones never changed their offset at midnight, so that local moment exists and is unambiguous. -#}
{% macro local_date_end_utc(local_date, time_zone) -%}
    {{ local_to_utc('cast(' ~ dbt.dateadd('day', 1, 'cast(' ~ local_date ~ ' as ' ~ dbt.type_timestamp() ~ ')') ~ ' as ' ~ dbt.type_timestamp() ~ ')', time_zone) }}
{%- endmacro %}
