"""Create the readings table: a TimescaleDB hypertable where the extension is available, else a plain table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    time timestamptz NOT NULL,
    measurer text NOT NULL,
    instrument text NOT NULL,
    reading text NOT NULL,
    value double precision,
    unit text NOT NULL,
    status text NOT NULL,
    error text,
    cycle_at timestamptz NOT NULL,
    PRIMARY KEY (measurer, instrument, reading, time)
)
"""
"""The primary key is the (series, time) index, and what makes a redelivered batch a no-op."""


def ensure_table(conn: psycopg.Connection[tuple[object, ...]], table: str) -> bool:
    """Create `table` if needed; return whether it is a TimescaleDB hypertable."""
    from psycopg import errors, sql

    name = sql.Identifier(table)
    with conn.transaction():
        conn.execute(sql.SQL(TABLE).format(table=name))
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone() is None:
        return False
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT create_hypertable(%s, 'time', if_not_exists => TRUE, migrate_data => TRUE)", (table,))
    except (errors.InsufficientPrivilege, errors.FeatureNotSupported, errors.ObjectNotInPrerequisiteState) as exc:
        log.warning("TimescaleDB is installed but %s stays a plain table: %s", table, exc)
        return False
    return True
