"""`labmon history`, `labmon alerts` and `labmon web` on the files a collector leaves behind."""

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time

import tomli_w

from labmon.broker import free_port
from labmon.models import Alert
from labmon.testing import wait_until
from labmon_collector.alerting.alertstore import SeriesState
from labmon_collector.alerting.events import EventLog
from labmon_collector.history.writer import HistoryConfig, HistorySink
from tests.conftest import collector_table, invoke
from tests.web.conftest import fetch
from tests.web.test_history import batch


def test_history_exports_a_series_as_a_table_csv_and_json(tmp_path):
    now = time.time()
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(now - 7200, 1.5))
    sink.write(batch(now - 60, None))
    sink.write(batch(now - 30, 2.5))
    sink.close()
    path = str(tmp_path / "h.sqlite")
    table = invoke("history", path, "table1/oven/*", "--since", "1h")
    assert table.exit_code == 0 and table.output.count("table1/oven/temp") == 2 and "timeout" in table.output
    rows = list(csv.reader(io.StringIO(invoke("history", path, "*", "--since", "3h", "--csv").output)))
    assert rows[0] == ["time", "series", "value", "unit", "status", "error"] and len(rows) == 4
    assert rows[1][2:5] == ["1.5", "degC", "ok"] and rows[2][4:] == ["error", "timeout"]
    lines = invoke("history", path, "*/oven/temp", "--since", "3h", "--until", "45s", "--json").output.splitlines()
    assert [json.loads(line)["value"] for line in lines] == [1.5, None]
    missing = invoke("history", path, "table9/*")
    assert missing.exit_code == 1 and "stored series: table1/oven/temp" in missing.output
    (tmp_path / "notes.txt").write_text("not a database, " * 100)
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE x (y)").connection.close()
    for other in (tmp_path / "notes.txt", tmp_path / "other.sqlite"):
        wrong = invoke("history", str(other), "*")
        assert wrong.exit_code == 1 and "is not a labmon history" in wrong.output
        assert invoke("alerts", str(other)).exit_code == 1
    assert sqlite3.connect(tmp_path / "other.sqlite").execute("SELECT name FROM sqlite_master").fetchall() == [("x",)]
    bad = invoke("history", path, "*", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "neither a duration" in bad.output


def test_the_event_log_records_changes_silences_and_routing(tmp_path):
    log = EventLog(tmp_path / "events.sqlite")
    key, other = ("hot", "t1/oven/temp"), ("hot", "t1/pump/p")
    firing = SeriesState("firing", 100.0, last_value=9.0, unit="degC")
    alert = Alert(rule="hot", state="firing", series=key[1], message="m", severity="warning", since=100, at=100)
    log.record({}, {key: firing, other: SeriesState("firing", 100.0)}, [(alert, [])], 100.0)
    log.record({key: "firing"}, {key: SeriesState("inactive")}, [(alert, ["console"])], 160.0)
    log.record({}, {key: SeriesState("pending", 200.0)}, [], 200.0)
    log.record({key: "pending"}, {key: SeriesState("inactive")}, [], 210.0)
    events = [(e.at, e.series, e.kind, e.detail) for e in reversed(log.query())]
    assert events == [
        (100.0, "t1/oven/temp", "firing", ""),
        (100.0, "t1/pump/p", "firing", ""),
        (100.0, "t1/pump/p", "silenced", "not notified"),
        (100.0, "t1/oven/temp", "held back", "no notifier took it"),
        (160.0, "t1/oven/temp", "resolved", ""),
        (160.0, "t1/oven/temp", "notified", "console"),
        (200.0, "t1/oven/temp", "pending", ""),
        (210.0, "t1/oven/temp", "cleared", ""),
    ]
    assert log.firing_periods("t1/oven/temp", 0) == [("hot", 100.0, 160.0)]
    assert log.firing_periods("t1/pump/p", 0) == [("hot", 100.0, None)]
    log.close()
    out = invoke("alerts", str(tmp_path / "events.sqlite"), "--since", "1970-01-01T00:00", "--series", "oven", "--json")
    assert [json.loads(line)["kind"] for line in out.output.splitlines()] == [
        "firing", "held back", "resolved", "notified", "pending", "cleared",
    ]  # fmt: skip
    text = invoke("alerts", str(tmp_path / "events.sqlite"), "--since", "1970-01-01T00:00", "--rule", "hot", "--utc")
    assert "silenced" in text.output and "1970-01-01T00:01:40.000+00:00" in text.output


def test_the_commands_print_local_time_with_its_offset_unless_told_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
        sink.write(batch(1_780_000_000.0, 1.5))  # 2026-05-28 20:26:40 UTC, summer time in Berlin
        sink.close()
        path = str(tmp_path / "h.sqlite")
        local = invoke("history", path, "*", "--since", "2026-05-28T22:00", "--until", "2026-05-28T23:00").output
        assert local.startswith("2026-05-28T22:26:40.000+02:00"), local  # --since reads the same local time
        utc = invoke("history", path, "*", "--since", "2026-05-28T22:00", "--until", "2026-05-28T23:00", "--utc")
        assert utc.output.startswith("2026-05-28T20:26:40.000+00:00"), utc.output
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_labmon_web_serves_the_page_from_the_files_alone(broker, tmp_path):
    now = time.time()
    sink = HistorySink(HistoryConfig(path=tmp_path / "history.sqlite"))
    sink.write(batch(now - 1, 20.5))  # within three intervals: online
    sink.close()
    port = free_port()
    config = collector_table(broker, ["table1"], data_dir=str(tmp_path / "data"), web={"listen": f"127.0.0.1:{port}"})
    (tmp_path / "c.toml").write_text(tomli_w.dumps(config))
    assert invoke("alerts", str(tmp_path / "c.toml")).exit_code == 1  # no collector has run yet
    page = subprocess.Popen(
        [sys.executable, "-m", "labmon", "web", str(tmp_path / "c.toml")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert page.stdout is not None
        assert page.stdout.readline().strip() == f"labmon web: http://127.0.0.1:{port}/ (Ctrl-C stops)"
        tiles = wait_until(lambda: fetch(f"http://127.0.0.1:{port}/api/overview")[1]["tiles"])
        assert [(t["series"], t["value"], t["state"]) for t in tiles] == [("table1/oven/temp", 20.5, "ok")]
        (measurer,) = fetch(f"http://127.0.0.1:{port}/api/measurers")[1]["measurers"]
        assert measurer["status"] == "online" and measurer["answered"] == 1
    finally:
        page.terminate()
        assert page.wait(10) == 0


def test_status_and_alerts_show_the_alert_history_of_a_running_collector(running_lab, tmp_path):
    config = str(tmp_path / "labmon.toml")
    wait_until(lambda: "firing" in invoke("alerts", config).output)
    status = invoke("status", config).output
    assert "recent alert history" in status
    assert f"firing    laser-unlocked       {running_lab.laser}" in status
