select
    subcategories.subcategory_code,
    subcategories.category_code,
    subcategories.subcategory_name
from {{ ref('subcategories') }} as subcategories

union all

select
    'unknown',
    'unknown',
    'не определено'
