{{ config(unique_key='incident_id') }}
-- Status transitions of incidents (история статусов инцидента).
{{ status_history('incident_events', 'incident_id') }}
