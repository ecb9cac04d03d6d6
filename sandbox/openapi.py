"""The OpenAPI 3.1 description of the sandbox APIs; record schemas come from docs/schemas/*.json."""

import json
from functools import lru_cache

from dagster_project.lib import paths

SCHEMAS_DIR = paths.REPO_ROOT / "docs" / "schemas"
LISTS = {
    "/pos/v1/messages": ("pos_message", "ПОС: сообщения и обращения 59-ФЗ (ЕПГУ)"),
    "/pos/v1/polls": ("pos_poll", "ПОС: голосования и опросы"),
    "/im/v1/incidents": ("incident", "Инцидент Менеджмент: инциденты из социальных сетей"),
}
LIST_PARAMETERS = [
    {
        "name": "updated_since",
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": "Только записи с updatedAt ≥ значения (ISO-8601, UTC)",
    },
    {
        "name": "updated_until",
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": "Только записи с updatedAt < значения",
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Непрозрачный курсор из next_cursor предыдущей страницы",
    },
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}},
]
ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    schemas = {name: json.loads((SCHEMAS_DIR / f"{name}.json").read_text()) for name, _ in LISTS.values()}
    doc_paths = {}
    for path, (schema, summary) in LISTS.items():
        page = {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}},
                "next_cursor": {"type": ["string", "null"]},
            },
        }
        doc_paths[path] = {
            "get": {
                "summary": summary,
                "description": "Записи упорядочены по (updatedAt, id). Запись меняется со временем: статус, ответ и "
                "оценка появляются позже, updatedAt растёт.",
                "security": [{"bearer": []}],
                "parameters": LIST_PARAMETERS,
                "responses": {
                    "200": {"description": "Страница записей", "content": {"application/json": {"schema": page}}},
                    "400": {"description": "Неверный параметр", **ERROR},
                    "401": {"description": "Нет или неверный токен", **ERROR},
                    "429": {
                        "description": "Слишком много запросов; см. заголовок Retry-After",
                        **ERROR,
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                    "5XX": {"description": "Сбой сервера", **ERROR},
                },
            }
        }
    admin = {"type": "object", "properties": {"now": {"type": "string", "format": "date-time"}}}
    doc_paths["/admin/clock"] = {
        "get": {
            "summary": "Текущее модельное время песочницы",
            "responses": {"200": {"description": "now", "content": {"application/json": {"schema": admin}}}},
        },
        "post": {
            "summary": "Перевести модельное время (записи видны в состоянии на now)",
            "requestBody": {"content": {"application/json": {"schema": admin}}},
            "responses": {"200": {"description": "now", "content": {"application/json": {"schema": admin}}}},
        },
    }
    doc_paths["/admin/faults"] = {
        "get": {
            "summary": "Действующие настройки внедрения сбоев",
            "responses": {"200": {"description": "Настройки"}},
        },
        "post": {
            "summary": "Настройки внедрения сбоев (пустой объект — выключить)",
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                key: {"type": "number"}
                                for key in (
                                    "seed",
                                    "rate_429",
                                    "retry_after_s",
                                    "rate_5xx",
                                    "slow_rate",
                                    "slow_s",
                                    "reset_rate",
                                    "duplicate_rate",
                                    "malformed_rate",
                                )
                            },
                        }
                    }
                }
            },
            "responses": {"200": {"description": "Действующие настройки"}},
        },
    }
    doc_paths["/health"] = {"get": {"summary": "Готовность", "responses": {"200": {"description": "ok"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Песочница ЦУР: ПОС и Инцидент Менеджмент",
            "version": "1.0.0",
            "description": "Контракт источников описан в docs/sources.md.",
        },
        "servers": [{"url": "http://127.0.0.1:8765"}],
        "paths": doc_paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
