-- Every channel conformed to one appeal entity (обращение/сообщение), codes still as the source sent them.
-- Incidents: the ЦУР registers an incident when monitoring detects it; the agency's reaction is its answer.
-- A view: the staging tables are the stored state; processed_at says which rows the latest run changed.
with pos_messages as (
    select * from {{ ref('stg_pos__messages') }}
),

incidents as (
    select * from {{ ref('stg_incident__incidents') }}
),

sed_appeals as (
    select * from {{ ref('stg_sed__appeals') }}
),

portal_appeals as (
    select * from {{ ref('stg_portal__appeals') }}
),

classifier_codes as (
    select * from {{ ref('classifier_codes') }}
),

unioned as (
    select
        'pos:' || message_id as appeal_key,
        'pos' as channel_code,
        case when is_59fz then 'обращение 59-ФЗ' else 'сообщение' end as appeal_kind,
        message_id as source_id,
        region_code,
        oktmo,
        agency_id,
        category_code,
        subcategory_code,
        cast(null as {{ dbt.type_string() }}) as classifier_code,
        citizen_hash,
        address,
        message_text as appeal_text,
        created_at as registered_at,
        cast(null as {{ dbt.type_timestamp() }}) as reaction_at,
        answered_at,
        cast(null as {{ dbt.type_timestamp() }}) as extended_at,
        cast(null as {{ dbt.type_int() }}) as redirect_count,
        cast(null as {{ dbt.type_int() }}) as rework_count,
        rating,
        rated_at,
        cast(null as {{ dbt.type_boolean() }}) as is_repeat_declared,
        status,
        source_status,
        updated_at,
        processed_at
    from pos_messages

    union all

    select
        'incident:' || incident_id,
        'incident',
        'инцидент из соцсетей',
        incident_id,
        region_code,
        oktmo,
        agency_id,
        category_code,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        author_hash,
        post_url,
        post_text,
        detected_at,
        reaction_at,
        reaction_at,
        cast(null as {{ dbt.type_timestamp() }}),
        cast(null as {{ dbt.type_int() }}),
        cast(null as {{ dbt.type_int() }}),
        cast(null as {{ dbt.type_int() }}),
        cast(null as {{ dbt.type_timestamp() }}),
        cast(null as {{ dbt.type_boolean() }}),
        status,
        source_status,
        updated_at,
        processed_at
    from incidents

    union all

    select
        'sed:' || sed_appeals.appeal_id,
        'sed',
        'обращение 59-ФЗ',
        sed_appeals.appeal_id,
        sed_appeals.region_code,
        sed_appeals.oktmo,
        sed_appeals.agency_id,
        classifier_codes.category_code,
        cast(null as {{ dbt.type_string() }}),
        sed_appeals.classifier_code,
        sed_appeals.citizen_hash,
        sed_appeals.address,
        sed_appeals.appeal_text,
        sed_appeals.registered_at,
        cast(null as {{ dbt.type_timestamp() }}),
        sed_appeals.answered_at,
        sed_appeals.extended_at,
        sed_appeals.redirect_count,
        cast(null as {{ dbt.type_int() }}),
        cast(null as {{ dbt.type_int() }}),
        cast(null as {{ dbt.type_timestamp() }}),
        sed_appeals.is_repeat_declared,
        sed_appeals.status,
        sed_appeals.source_status,
        sed_appeals.updated_at,
        sed_appeals.processed_at
    from sed_appeals
    left join classifier_codes
        on sed_appeals.classifier_code = classifier_codes.classifier_code

    union all

    select
        'portal:' || appeal_id,
        'portal',
        'сообщение',
        appeal_id,
        region_code,
        oktmo,
        agency_id,
        category_code,
        subcategory_code,
        cast(null as {{ dbt.type_string() }}),
        citizen_hash,
        address,
        appeal_text,
        created_at,
        cast(null as {{ dbt.type_timestamp() }}),
        answered_at,
        cast(null as {{ dbt.type_timestamp() }}),
        cast(null as {{ dbt.type_int() }}),
        rework_count,
        rating,
        cast(null as {{ dbt.type_timestamp() }}),
        cast(null as {{ dbt.type_boolean() }}),
        status,
        source_status,
        updated_at,
        processed_at
    from portal_appeals
)

select * from unioned
