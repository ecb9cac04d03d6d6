-- Calendar with the Russian production calendar, from the first year of the lake to next year (made at build time:
-- dagster_project/lib/calendar.py). working_day_index counts working days up to and including the date, so
-- "N working days after D" is the working day whose index is index(D) + N, on any engine.
with calendar as (
    select * from {{ source('reference', 'production_calendar') }}
)

select
    date_day,
    cast(extract(year from date_day) as {{ dbt.type_int() }}) as year,
    cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter,
    cast(extract(month from date_day) as {{ dbt.type_int() }}) as month,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as iso_week_start,
    cast({{ iso_day_of_week('date_day') }} as {{ dbt.type_int() }}) as iso_day_of_week,
    is_working_day,
    is_holiday,
    is_transferred_workday,
    nullif(holiday_name, '') as holiday_name,
    cast(sum(case when is_working_day then 1 else 0 end) over (order by date_day rows unbounded preceding)
        as {{ dbt.type_int() }}) as working_day_index
from calendar
