"""The example Grafana dashboard for PostgreSQL: every panel's query, run against a real PostgreSQL after the
postgres sink wrote a small lab into it, returns what the panel is meant to show."""

import time
from datetime import UTC, datetime

from labmon import Secret
from labmon_postgres.sink import PostgresConfig, PostgresSink
from tests.dashboards import MEASURERS, cycles, queries, sql, unexpanded


def test_every_postgresql_panel_shows_what_the_sink_wrote(postgres):
    now = time.time()
    sink = PostgresSink(PostgresConfig(dsn=Secret(postgres.dsn)))  # the default table, which the dashboard reads
    for batch in cycles(now):
        sink.write(batch)
    sink.close()
    panels = queries("labmon-postgresql.json")
    ask = {title: sql(query, MEASURERS, now - 86400, now) for title, query in panels.items()}
    for query in ask.values():
        assert not unexpanded(query), query

    second = datetime.fromtimestamp(now - 60 + 0.25, UTC)
    readings = postgres.query(ask["Readings"])
    assert [(metric, value) for _, metric, value in readings] == [
        ("grafana1/laser1/lock_error (V)", 0.05),
        ("grafana1/laser1/lock_error (V)", 0.06),
    ]
    assert readings[-1][0] == second
    assert postgres.query(ask["Measurers answering the latest cycle"]) == [(1,)]
    assert postgres.query(ask["Error readings (latest of each)"]) == [
        (second, "grafana1", "oven", "*", "no answer within 5s")
    ]
    missed = postgres.query(ask["Missed replies per hour"])
    assert {metric for _, metric, _ in missed} == {"grafana2"}
    assert sum(count for _, _, count in missed) == 2
    assert set(MEASURERS) <= {measurer for (measurer,) in postgres.query(ask["$measurer"])}
    assert set(panels) == {
        "Readings", "Measurers answering the latest cycle", "Error readings (latest of each)",
        "Missed replies per hour", "$measurer",
    }  # fmt: skip
