"""Helpers the tests share to look for personal data and to clean up PostgreSQL: not product code."""

from psycopg2 import sql

from dagster_project.lib import pii, postgres


def find_pii(text: str) -> list[str]:
    """Every phone, e-mail or ФИО pattern in a text (the PII scans of the lake and the warehouse)."""
    return [m.group(0) for pattern in (pii.EMAIL_RE, pii.PHONE_RE, pii.FIO_RE) for m in pattern.finditer(text)]


def drop_schemas(prefix: str) -> None:
    """Drop schema `prefix` and every `prefix_*` schema (a test's target schema, its folder schemas and raw copy)."""
    with postgres.connect() as pg, pg.cursor() as cursor:
        cursor.execute(
            "select nspname from pg_namespace where nspname = %s or nspname like %s", (prefix, prefix + r"\_%")
        )
        for (name,) in cursor.fetchall():
            cursor.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
