"""The postgres sink against a real PostgreSQL: rows, redelivery, the plain-table index, outages, mistakes."""

from datetime import UTC, datetime

import pytest

from labmon import Batch, PermanentError, Reading, Result, Secret, TransientError
from labmon.options import ConfigError
from labmon_postgres.sink import PostgresConfig, PostgresSink
from tests.influx.stores import collect_into, deliver_across_an_outage


def batch(cycle: int, at: float = 1764000000.0) -> Batch:
    start = at + 60 * cycle
    readings = (
        Reading("lock_error", 0.05 * cycle, "V", instrument="laser1"),
        Reading("*", None, "", "error", "no answer within 5s", instrument="oven"),
    )
    return Batch(cycle, start, (Result("q", "table1", start + 0.25, readings),), ("table2",))


def sink(postgres, table: str) -> PostgresSink:
    return PostgresSink(PostgresConfig(dsn=Secret(postgres.dsn), table=table, connect_timeout=2.0))


def test_readings_errors_and_silent_measurers_are_rows_and_a_redelivery_is_stored_once(postgres):
    store = sink(postgres, "rows")
    store.write(batch(1))
    store.write(batch(1))  # the outbox delivers at least once
    store.close()
    rows = postgres.query(
        "SELECT time, measurer, instrument, reading, value, unit, status, error FROM rows ORDER BY 2, 3"
    )
    at, cycle_at = datetime.fromtimestamp(1764000060.25, UTC), datetime.fromtimestamp(1764000060.0, UTC)
    assert rows == [
        (at, "table1", "laser1", "lock_error", 0.05, "V", "ok", None),
        (at, "table1", "oven", "*", None, "", "error", "no answer within 5s"),
        (cycle_at, "table2", "*", "*", None, "", "missing", "no reply"),
    ]


def test_a_batch_partly_stored_already_adds_only_its_new_rows_and_the_next_batch_is_copied(postgres):
    store = sink(postgres, "partly")
    first = batch(1)
    store.write(first)
    (result,) = first.results
    grown = Result(result.inquiry_id, result.measurer, result.measured_at, (*result.readings, Reading("t", 1.5)))
    store.write(Batch(first.cycle, first.started_at, (result, grown), first.missing))  # twins and stored rows
    store.write(batch(2))
    store.close()
    rows = postgres.query("SELECT instrument, reading, value FROM partly ORDER BY time, measurer, instrument, reading")
    assert rows == [
        ("*", "*", None),
        ("", "t", 1.5),
        ("laser1", "lock_error", 0.05),
        ("oven", "*", None),
        ("*", "*", None),
        ("laser1", "lock_error", 0.1),
        ("oven", "*", None),
    ]


def test_without_timescaledb_a_plain_table_is_indexed_by_series_and_time(postgres):
    if postgres.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"):
        pytest.skip("TimescaleDB is installed here: the hypertable test covers this server")
    store = sink(postgres, "plain")
    store.write(batch(1))
    store.close()
    assert not store.hypertable
    (index,) = postgres.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'plain'")
    assert '(measurer, instrument, reading, "time")' in str(index[0])


def test_with_timescaledb_the_table_is_a_hypertable(postgres):
    if not postgres.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"):
        pytest.skip("TimescaleDB is not packaged for Debian 12: this server has no timescaledb extension")
    store = sink(postgres, "hyper")
    store.write(batch(1))
    store.close()
    assert store.hypertable
    assert postgres.query("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'hyper'")


def test_a_table_of_another_shape_parks_the_sink(postgres):
    postgres.query("CREATE TABLE othershape (x integer)")
    with pytest.raises(PermanentError) as caught:
        sink(postgres, "othershape").write(batch(1))
    assert str(caught.value) == (
        'PostgreSQL refused the batch: UndefinedColumn: column "time" of relation "othershape" does not exist'
    )
    assert "pg-s3cret" not in str(caught.value)


@pytest.mark.parametrize("wrong", [("user=labmon", "user=nobody"), ("dbname=postgres", "dbname=nosuchdb")])
def test_a_wrong_dsn_parks_the_sink_and_is_not_shown(postgres, wrong):
    dsn = postgres.dsn.replace(*wrong)
    with pytest.raises(PermanentError) as caught:
        PostgresSink(PostgresConfig(dsn=Secret(dsn))).write(batch(1))
    assert "does not exist; check the dsn" in str(caught.value) and "pg-s3cret" not in str(caught.value)


def test_an_unreachable_server_is_retried_and_never_shows_the_dsn():
    dsn = "host=127.0.0.1 port=9 user=lab password=pg-s3cret-never-shown"
    with pytest.raises(TransientError) as caught:
        PostgresSink(PostgresConfig(dsn=Secret(dsn), connect_timeout=1.0)).write(batch(1))
    assert "pg-s3cret" not in str(caught.value) and "unreachable" in str(caught.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"dsn": "host=db password=pg-s3cret-never-shown"}, "dsn: secrets are not written in the config text"),
        ({"dsn": "${PG_DSN}", "table": "Readings; DROP"}, "table: not a plain table name"),
    ],
)
def test_config_mistakes_name_the_key_and_hide_the_dsn(write_config, monkeypatch, table, message):
    monkeypatch.setenv("PG_DSN", "host=db password=pg-s3cret-never-shown")
    with pytest.raises(ConfigError) as caught:
        write_config({"collector": {"measurers": ["t1"], "sinks": {"db": {"type": "postgres", **table}}}})
    assert f"[collector.sinks.db] {message}" in str(caught.value)
    assert "pg-s3cret" not in str(caught.value)


def test_a_server_that_is_down_buffers_and_nothing_is_lost_or_doubled(postgres, tmp_path):
    store = sink(postgres, "outage")
    batches = [batch(cycle) for cycle in (1, 2, 3, 4)]
    deliver_across_an_outage(store, tmp_path / "outbox.sqlite", batches, postgres.stop, postgres.start)
    store.close()
    values = postgres.query("SELECT value FROM outage WHERE reading = 'lock_error' ORDER BY time")
    assert values == [(pytest.approx(0.05 * c),) for c in (1, 2, 3, 4)]
    assert postgres.query("SELECT count(*) FROM outage") == [(12,)]


def test_a_collector_cycle_reaches_postgres_through_its_outbox(postgres, broker, lab, write_config, monkeypatch):
    monkeypatch.setenv("PG_DSN", postgres.dsn)
    batches = collect_into(write_config, broker, lab, {"type": "postgres", "dsn": "${PG_DSN}", "table": "cycles"})
    assert all(not b.missing for b in batches)
    rows = postgres.query("SELECT measurer, count(*) FROM cycles WHERE status = 'ok' GROUP BY measurer ORDER BY 1")
    assert rows == [(m, len(batches)) for m in sorted(lab)]
