{{ config(unique_key=['table_name', 'part_path']) }}
-- The landed Parquet parts of every raw table, each recorded once, by the run that first saw it: a staging model
-- reads the parts recorded after its own latest run (macro landed_since_last_run). A held part (macros/held_parts.sql)
-- is not recorded until it is released.
{%- for table in landed_tables() %}
-- depends_on: {{ source('raw', table) }}
{%- endfor %}
with parts as (
    {%- for table in landed_tables() %}
    select '{{ table }}' as table_name, part_path from ({{ landed_parts(table) }}) as {{ table }}_parts
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select table_name, part_path, {{ processed_at() }} as processed_at
from parts
where {{ not_held('part_path', 'table_name') }}
{%- if is_incremental() %}
  and not exists (
    select 1 from {{ this }} as recorded
    where recorded.table_name = parts.table_name and recorded.part_path = parts.part_path
)
{%- endif %}
