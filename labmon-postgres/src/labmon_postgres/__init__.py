"""The `postgres` sink: every reading in a PostgreSQL (or TimescaleDB) table."""

from __future__ import annotations

from labmon import Register, hookimpl
from labmon_postgres.sink import PostgresSink


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("postgres", PostgresSink)
