"""Insert batches into PostgreSQL; the DSN, which may carry a password, never leaves unredacted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from labmon import WHOLE_INSTRUMENT, Batch, Duration, OptionError, PermanentError, Secret, TransientError, redact
from labmon_postgres.schema import ensure_table

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

COLUMNS = "time, measurer, instrument, reading, value, unit, status, error, cycle_at"
COPY = f"COPY {{table}} ({COLUMNS}) FROM STDIN"
INCOMING = "CREATE TEMPORARY TABLE {incoming} (LIKE {table}) ON COMMIT DROP"
MERGE = f"INSERT INTO {{table}} ({COLUMNS}) SELECT {COLUMNS} FROM {{incoming}} ON CONFLICT DO NOTHING"
"""A redelivered batch goes through a temporary table, so that the rows already stored are kept once."""

REFUSED_LOGIN = ("password authentication failed", "does not exist", "no pg_hba.conf entry")
"""What the server says when the DSN itself is wrong (libpq gives no SQLSTATE then): retrying cannot help."""

Row = tuple[datetime, str, str, str, float | None, str, str, str | None, datetime]


@dataclass(frozen=True)
class PostgresConfig:
    """Options of the PostgreSQL sink."""

    dsn: Secret
    table: str = "labmon_readings"
    connect_timeout: Duration = Duration(10.0)

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.table):
            raise OptionError("table", f"not a plain table name: {self.table!r}", "use lower-case letters, digits, '_'")


class PostgresSink:
    """One row per reading and per silent measurer (status `missing`), keyed by series and time."""

    Config = PostgresConfig

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None  # opened by the first write
        self.hypertable = False

    def write(self, batch: Batch) -> None:
        """Copy the batch in one transaction; raise so that the outbox retries it or parks the sink."""
        import psycopg
        from psycopg import errors, sql

        table, incoming = sql.Identifier(self.config.table), sql.Identifier("labmon_incoming")
        found = rows(batch)
        try:
            conn = self._connection()
            try:
                with conn.transaction():
                    _copy(conn, sql.SQL(COPY).format(table=table), found)
            except errors.UniqueViolation:  # a redelivery (the outbox delivers at least once): add what is not in
                with conn.transaction():
                    conn.execute(sql.SQL(INCOMING).format(incoming=incoming, table=table))
                    _copy(conn, sql.SQL(COPY).format(table=incoming), found)
                    conn.execute(sql.SQL(MERGE).format(table=table, incoming=incoming))
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # the connection, not the data
            self.close()  # reconnect on the next attempt
            if any(words in str(exc) for words in REFUSED_LOGIN):
                raise PermanentError(self._safe(f"PostgreSQL refused the login: {exc}; check the dsn")) from None
            raise TransientError(self._safe(f"PostgreSQL unreachable: {exc}")) from None
        except psycopg.Error as exc:  # a refused statement (privileges, a table of another shape): retrying won't help
            first_line = str(exc).partition("\n")[0]  # the rest quotes the statement
            raise PermanentError(
                self._safe(f"PostgreSQL refused the batch: {type(exc).__name__}: {first_line}")
            ) from None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        if self._conn is None or self._conn.closed:
            timeout = max(1, round(self.config.connect_timeout))
            conn = psycopg.connect(self.config.dsn, autocommit=True, connect_timeout=timeout)
            try:
                self.hypertable = ensure_table(conn, self.config.table)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _safe(self, text: str) -> str:
        from psycopg.conninfo import conninfo_to_dict

        try:
            password = str(conninfo_to_dict(self.config.dsn).get("password") or "")
        except Exception:  # a DSN it cannot parse: redact the whole DSN only
            password = ""
        return redact(text, self.config.dsn, password)

    def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def rows(batch: Batch) -> list[Row]:
    """Return the table rows of a batch: its readings, then a `missing` row per silent measurer."""
    cycle_at = _time(batch.started_at)
    found: list[Row] = []
    for result in batch.results:  # one time per result: its readings share it
        m, at = result.measurer, _time(result.measured_at)
        found += [(at, m, r.instrument, r.name, r.value, r.unit, r.status, r.error, cycle_at) for r in result.readings]
    whole = WHOLE_INSTRUMENT
    found += [(cycle_at, m, whole, whole, None, "", "missing", "no reply", cycle_at) for m in batch.missing]
    return found


def _copy(conn: psycopg.Connection[tuple[object, ...]], statement: sql.Composed, found: list[Row]) -> None:
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in found:
            copy.write_row(row)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
