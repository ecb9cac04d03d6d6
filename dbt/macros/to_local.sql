{#- UTC timestamp → the region's local wall-clock time. Russian regions keep fixed offsets (no DST since 2014,
    Saratov +4 since 2016), so an hour offset from dim_region is exact for 2019+ and portable across engines. -#}
{% macro to_local(timestamp_utc, utc_offset_hours) -%}
    {{ dbt.dateadd('hour', utc_offset_hours, timestamp_utc) }}
{%- endmacro %}

{#- The UTC moment at which a local date ends (local midnight of the next day): the expiry of a deadline date. -#}
{% macro local_date_end_utc(local_date, utc_offset_hours) -%}
    {{ dbt.dateadd('hour', '-1 * ' ~ utc_offset_hours, dbt.dateadd('day', 1, 'cast(' ~ local_date ~ ' as ' ~ dbt.type_timestamp() ~ ')')) }}
{%- endmacro %}
