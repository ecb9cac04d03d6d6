-- Коды, которых нет в справочниках (неизвестные коды): per source (канал) × region × registration month × kind of
-- code × the code as the source sent it, the appeals that carry it. They are in every mart under the «не определено»
-- member (category, subcategory, agency, ОКТМО, status) — counted, never dropped; an unknown region code cannot be
-- placed in any region's marts, so those appeals are excluded (int_appeals_excluded) and counted here under their
-- own code. For analysts: how much of a month's «не определено» comes from where; for engineers: which codes to add
-- to the reference data or the source's mapping. Rebuilt whole: it reads only the appeals with an unknown code.

-- (kind of code, the code as sent, when the appeal carries the «не определено» member of that dimension)
{%- set unknown_kinds = [
    ("case when channel_code = 'sed' then 'classifier' else 'category' end", 'unresolved_category_code',
     "category_code = 'unknown'"),
    ("'subcategory'", 'unresolved_subcategory_code', "subcategory_code = 'unknown'"),
    ("'agency'", 'unresolved_agency_id', "agency_id = 'unknown'"),
    ("'oktmo'", 'unresolved_oktmo', "oktmo = '00000000'"),
    ("'status'", 'source_status', "status = 'unknown'"),
] %}

with unresolved as (
    select
        channel_code,
        region_code,
        registered_at,
        cast({{ dbt.date_trunc('month', 'coalesce(registered_date, cast(registered_at as date))') }} as date)
            as month_start,
        exclusion_reason,
        oktmo,
        agency_id,
        category_code,
        subcategory_code,
        status,
        source_status,
        unresolved_oktmo,
        unresolved_agency_id,
        unresolved_category_code,
        unresolved_subcategory_code
    from {{ ref('int_appeals_conformed') }}
    where (exclusion_reason is null and ({{ unknown_kinds | map(attribute=2) | join(' or ') }}))
       or (exclusion_reason = 'unknown_region' and registered_at is not null)
),

codes as (
    {%- for kind, code, condition in unknown_kinds %}
    select channel_code, region_code, month_start, registered_at, {{ kind }} as code_kind, {{ code }} as source_code
    from unresolved where exclusion_reason is null and {{ condition }}
    union all
    {%- endfor %}
    select channel_code, region_code, month_start, registered_at, 'region', region_code
    from unresolved where exclusion_reason = 'unknown_region'
),

counted as (
    select
        channel_code,
        region_code,
        month_start,
        code_kind,
        coalesce(source_code, '(не указан)') as source_code,
        source_code is null as is_code_missing,
        count(*) as appeals,
        min(registered_at) as first_registered_at,
        max(registered_at) as last_registered_at
    from codes
    group by channel_code, region_code, month_start, code_kind, coalesce(source_code, '(не указан)'),
        source_code is null
),

-- the appeals of the same source, region and month in the marts: what the unknown ones are a share of
received as (
    select channel_code, region_code, month_start, count(*) as received
    from {{ ref('appeal_outcomes') }}
    group by channel_code, region_code, month_start
)

select
    c.channel_code,
    c.region_code,
    c.month_start,
    c.code_kind,
    case c.code_kind
        when 'category' then 'категория'
        when 'classifier' then 'код классификатора СЭД'
        when 'subcategory' then 'подкатегория'
        when 'agency' then 'орган власти'
        when 'oktmo' then 'ОКТМО'
        when 'status' then 'статус'
        when 'region' then 'регион'
    end as code_kind_ru,
    c.source_code,
    c.is_code_missing,
    case when c.code_kind = 'region' then 'исключено из витрин' else 'не определено' end as shown_as,
    c.appeals,
    r.received,
    {{ mart_round(mart_ratio('c.appeals', 'r.received')) }} as share_of_received,
    c.first_registered_at,
    c.last_registered_at
from counted as c
left join received as r
    on r.channel_code = c.channel_code and r.region_code = c.region_code and r.month_start = c.month_start
