"""The influx sink against a real VictoriaMetrics and a real InfluxDB 1.x, and its failure handling."""

import base64
import gzip
import time

import pytest

from labmon import Batch, PermanentError, Reading, Result, RetryLater, Secret, TransientError
from labmon.options import ConfigError
from labmon.testing import Answer, ScriptedServer
from labmon_influx.lines import batch_lines
from labmon_influx.sink import InfluxConfig, InfluxSink
from tests.influx.stores import collect_into, deliver_across_an_outage

TOKEN = "t0ken-that-must-never-show"
AWKWARD_ERROR = 'said "no"\\ then\nstopped'


def batch(cycle: int = 1, at: float | None = None) -> Batch:
    start = (at or time.time()) + cycle
    readings = (
        Reading("lock_error", 0.05, "V", instrument="laser1"),
        Reading("temp, inner=1", 21.5, "°C", instrument="oven 2"),
        Reading("*", None, "", "error", AWKWARD_ERROR, instrument="pump\\"),
    )
    return Batch(cycle, start, (Result("q", "table1", start + 0.25, readings),), ("table2",))


def nanoseconds(seconds: float) -> int:
    return round(seconds * 1e6) * 1000


def sink(url: str, **options) -> InfluxSink:
    return InfluxSink(InfluxConfig(url=url, timeout=2.0, **options))


def test_lines_escape_names_tags_and_strings():
    lines = batch_lines(batch(at=1700000000.0), "lab mon,x", "s")
    assert lines == [
        r"lab\ mon\,x,measurer=table1,instrument=laser1,reading=lock_error,unit=V value=0.05,ok=1i,status="
        + '"ok" 1700000001',
        r"lab\ mon\,x,measurer=table1,instrument=oven\ 2,reading=temp\,\ inner\=1,unit=°C value=21.5,ok=1i,status="
        + '"ok" 1700000001',
        r"lab\ mon\,x,measurer=table1,instrument=pump/,reading=* "
        r'ok=0i,status="error",error="said \"no\"\\ then stopped" 1700000001',
        r'lab\ mon\,x,measurer=table2 ok=0i,status="missing" 1700000001',
    ]


def test_nanosecond_precision_keeps_the_fraction():
    (line, *_) = batch_lines(batch(at=1700000000.0), "m", "ns")
    assert line.endswith(" 1700000001250000000")


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "database"),
        ({"database": "lab", "org": "o", "bucket": "b", "token": "${T}"}, "database"),
        ({"database": "lab", "username": "u"}, "username"),
        ({"database": "lab", "url": "influx:8086"}, "url"),
    ],
)
def test_config_mistakes_name_the_key(write_config, monkeypatch, options, key):
    monkeypatch.setenv("T", TOKEN)
    table = {"type": "influx", "url": "http://127.0.0.1:8086", **options}
    with pytest.raises(ConfigError) as caught:
        write_config({"collector": {"measurers": ["t1"], "sinks": {"store": table}}})
    assert f"[collector.sinks.store] {key}:" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_victoria_metrics_stores_values_errors_and_missing_measurers(victoria):
    sent = batch()
    store = sink(victoria.url, database="lab", measurement="vmone")
    store.write(sent)
    store.write(sent)  # redelivered: kept once, as the fixture runs VictoriaMetrics with deduplication
    series = victoria.wait_for('{__name__=~"vmone_.*"}', 6)
    found = {(s["metric"]["__name__"], s["metric"]["measurer"], s["metric"].get("reading")): s for s in series}
    value = found[("vmone_value", "table1", "lock_error")]
    assert value["values"] == [0.05] and value["metric"]["unit"] == "V" and value["metric"]["db"] == "lab"
    assert value["timestamps"] == [nanoseconds(sent.started_at + 0.25) // 1_000_000]  # truncated to ms
    assert found[("vmone_value", "table1", "temp, inner=1")]["metric"]["instrument"] == "oven 2"
    assert found[("vmone_ok", "table1", "*")]["values"] == [0]
    assert found[("vmone_ok", "table1", "*")]["metric"]["instrument"] == "pump/"
    assert found[("vmone_ok", "table2", None)]["values"] == [0]


def test_victoria_metrics_takes_the_v2_api_gzipped_in_second_precision(victoria):
    at = float(int(time.time()))
    sink(victoria.url, org="lab", bucket="b", token=Secret(TOKEN), measurement="vmtwo", precision="s").write(
        batch(at=at)
    )
    (series,) = victoria.wait_for('{__name__="vmtwo_value", reading="lock_error"}', 1)
    assert series["timestamps"] == [(at + 1) * 1000]


def test_influxdb_round_trips_every_field_and_a_redelivery_is_stored_once(influx):
    influx.query("CREATE DATABASE roundtrip")
    sent = batch()
    store = sink(influx.url, database="roundtrip", batch_size=2)  # four lines: two requests
    store.write(sent)
    store.write(sent)  # the outbox delivers at least once
    rows = influx.rows("labmon", "roundtrip")
    assert len(rows) == 4
    by_reading = {(r["measurer"], r["reading"]): r for r in rows}
    ok = by_reading[("table1", "temp, inner=1")]
    assert (ok["value"], ok["unit"], ok["instrument"], ok["status"], ok["ok"]) == (21.5, "°C", "oven 2", "ok", 1)
    assert ok["time"] == nanoseconds(sent.started_at + 0.25)
    failed = by_reading[("table1", "*")]
    assert (failed["value"], failed["status"], failed["error"]) == (None, "error", AWKWARD_ERROR.replace("\n", " "))
    assert failed["instrument"] == "pump/"  # a trailing backslash no InfluxDB 1.x tag can hold
    assert by_reading[("table2", None)]["status"] == "missing"


def test_influxdb_answers_a_missing_database_with_a_parked_sink(influx):
    with pytest.raises(PermanentError) as caught:
        sink(influx.url, database="nosuchdb", username="lab", password=Secret(TOKEN)).write(batch())
    said = str(caught.value)
    assert "HTTP 404: no such database or bucket; create it" in said and "database not found" in said
    assert "webhook" not in said and TOKEN not in said


def test_v2_posts_gzipped_lines_with_the_token_header():
    with ScriptedServer(Answer(204)) as server:
        sink(server.url, org="lab", bucket="b", token=Secret(TOKEN), precision="s").write(batch(at=1700000000.0))
        (request,) = server.wait_for(1)
    assert request.path == "/api/v2/write?org=lab&bucket=b&precision=s"
    assert request.headers["Authorization"] == f"Token {TOKEN}"
    assert gzip.decompress(request.body).decode().splitlines() == batch_lines(batch(at=1700000000.0), "labmon", "s")


def test_v1_logs_in_with_basic_auth_and_can_send_plain_text():
    with ScriptedServer(Answer(204)) as server:
        sink(server.url, database="lab", username="lab", password=Secret(TOKEN), gzip=False).write(batch(at=1.0))
        (request,) = server.wait_for(1)
    assert request.path == "/write?db=lab&precision=n"
    assert base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")) == f"lab:{TOKEN}".encode()
    assert "Content-Encoding" not in request.headers
    assert request.body.decode().splitlines() == batch_lines(batch(at=1.0), "labmon", "ns")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer.json(401, {"code": "unauthorized", "message": f"bad token {TOKEN}"}), PermanentError),
        (Answer(429, b"slow down", {"Retry-After": "7"}), RetryLater),
        (Answer(503, b"overloaded"), TransientError),
        (Answer(204, delay=4.0), TransientError),
    ],
)
def test_failures_are_classified_and_never_show_the_token(answer, error):
    with ScriptedServer(answer) as server, pytest.raises(error) as caught:
        sink(server.url, org="lab", bucket="b", token=Secret(TOKEN)).write(batch())
    assert TOKEN not in str(caught.value)


def test_a_store_that_is_down_buffers_and_nothing_is_lost_or_doubled(own_influx, tmp_path):
    own_influx.query("CREATE DATABASE outage")
    sent = [batch(cycle, at=time.time()) for cycle in (1, 2, 3, 4)]
    store = sink(own_influx.url, database="outage")
    deliver_across_an_outage(store, tmp_path / "outbox.sqlite", sent, own_influx.stop, own_influx.start)
    rows = own_influx.rows("labmon", "outage")
    assert len(rows) == 4 * 4
    times = sorted(r["time"] for r in rows if r["reading"] == "lock_error")
    assert times == [nanoseconds(b.started_at + 0.25) for b in sent]


def test_a_collector_cycle_reaches_influxdb_through_its_outbox(influx, broker, lab, write_config):
    influx.query("CREATE DATABASE cycles")
    batches = collect_into(write_config, broker, lab, {"type": "influx", "url": influx.url, "database": "cycles"})
    assert all(not b.missing for b in batches)
    rows = influx.rows("labmon", "cycles")
    assert sorted((r["measurer"], r["reading"], r["status"]) for r in rows) == sorted(
        (m, "lock_error", "ok") for m in lab for _ in batches
    )
