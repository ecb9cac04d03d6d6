{{ config(unique_key='message_id') }}
-- Status transitions of ПОС messages (история статусов сообщения).
{{ status_history('pos_message_events', 'message_id') }}
