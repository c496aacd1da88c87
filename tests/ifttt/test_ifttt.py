import json
import time

import pytest
import tomli_w

from labmon import Batch, PermanentError, Reading, Result, RetryLater, TransientError
from labmon.options import Secret
from labmon.testing import Answer, ScriptedServer, SilentListener
from labmon_ifttt.row import CELL_SEPARATOR, row_values
from labmon_ifttt.sink import IftttConfig, IftttSink
from tests.conftest import collector_table, invoke
from tests.ifttt.conftest import CONGRATS

KEY = "k3y-that-must-never-show"
OVEN_DOWN = Reading("*", None, "", "error", "no answer within 5s", instrument="oven")


def batch(cycle=1, *readings, missing=("table2",)):
    readings = readings or (Reading("lock_error", 0.05, "V", instrument="laser1"), OVEN_DOWN)
    return Batch(cycle, 1700000000.0 + cycle, (Result("q", "table1", 1700000000.0, readings),), missing)


def sink(server, tmp_path, **options):
    options = {"connect_timeout": 0.5, "timeout": 0.5, **options}
    return IftttSink(IftttConfig(event="lab", key=Secret(KEY), base_url=server.url, state_dir=tmp_path, **options))


def cells(request):
    return request.json()["value2"].split(CELL_SEPARATOR)


def test_a_cycle_is_one_row_of_plain_numbers_with_notes():
    values = row_values(batch(), ["table1/laser1/lock_error"])
    assert values["value1"] == "2023-11-14T22:13:21.000+00:00"
    assert values["value2"] == "0.05"
    assert values["value3"] == "no reply: table2; table1/oven/*: no answer within 5s"


def test_columns_fix_the_order_and_leave_blanks():
    columns = ["table2/pump/pressure", "table1/laser1/lock_error", "table1/oven/*"]
    assert row_values(batch(), columns)["value2"] == CELL_SEPARATOR.join(["", "0.05", ""])


def test_without_columns_every_series_keeps_its_column_across_failures_and_restarts(tmp_path):
    lock = Reading("lock_error", 0.05, "V", instrument="laser1")
    temp = Reading("temperature", 21.5, "degC", instrument="oven")
    pressure = Reading("pressure", 1e-9, "mbar", instrument="pump")
    with ScriptedServer(CONGRATS) as server:
        first = sink(server, tmp_path)
        first.write(batch(1, lock, temp))
        lock_failed = Reading("lock_error", None, "V", "error", "timeout", instrument="laser1")
        first.write(batch(2, lock_failed, temp))  # a failed reading: a blank cell, nothing shifts
        first.close()
        second = sink(server, tmp_path)  # a restart: the order comes back from the state file
        second.write(batch(3, pressure, lock))  # a new series goes to the end; a reordered result changes nothing
        second.write(Batch(4, 1700000004.0, (), ("table1",)))
        rows = [cells(r) for r in server.wait_for(4)]
    assert rows == [
        ["0.05", "21.5"],
        ["", "21.5"],
        ["0.05", "", "1e-09"],
        ["", "", ""],
    ]
    saved = json.loads((tmp_path / "ifttt-lab.columns.json").read_text())
    assert saved == ["table1/laser1/lock_error", "table1/oven/temperature", "table1/pump/pressure"]


def test_posts_the_row_to_the_trigger_url(sheets, tmp_path):
    sink(sheets, tmp_path).write(batch())
    (request,) = sheets.wait_for(1)
    assert request.path == f"/trigger/lab/with/key/{KEY}"
    assert set(request.json()) == {"value1", "value2", "value3"}


def test_json_mode_posts_the_whole_batch(sheets, tmp_path):
    sink(sheets, tmp_path, mode="json").write(batch())
    (request,) = sheets.wait_for(1)
    assert request.path == f"/trigger/lab/json/with/key/{KEY}"
    assert Batch.from_dict(request.json()) == batch()
    assert not (tmp_path / "ifttt-lab.columns.json").exists()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer.json(401, {"errors": [{"message": "You sent an invalid key."}]}), PermanentError),
        (Answer(429, b"slow down", {"Retry-After": "12"}), RetryLater),
        (Answer(503, b"maintenance"), TransientError),
        (Answer(200, b"late", delay=2.0), TransientError),
    ],
)
def test_failures_are_classified_and_never_show_the_key(answer, error, tmp_path):
    with ScriptedServer(answer) as server, pytest.raises(error) as caught:
        sink(server, tmp_path).write(batch())
    assert KEY not in str(caught.value)
    if error is RetryLater:
        assert caught.value.after == 12.0


def test_a_slow_service_is_a_timeout_and_a_silent_host_a_connect_timeout(tmp_path):
    with ScriptedServer(Answer(200, b"late", delay=5.0)) as slow, pytest.raises(TransientError) as read:
        sink(slow, tmp_path, connect_timeout=5.0, timeout=0.3).write(batch())
    assert "ReadTimeout" in str(read.value)
    with SilentListener() as silent, pytest.raises(TransientError) as connect:
        started = time.monotonic()
        sink(silent, tmp_path, connect_timeout=0.3, timeout=30.0).write(batch())
    assert "ConnectTimeout" in str(connect.value) and time.monotonic() - started < 10
    assert KEY not in str(read.value) + str(connect.value)


def test_an_unreachable_service_does_not_show_the_key(tmp_path):
    dead = IftttSink(IftttConfig(event="lab", key=Secret(KEY), base_url="http://127.0.0.1:9", state_dir=tmp_path))
    with pytest.raises(TransientError) as caught:
        dead.write(batch())
    assert KEY not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("connect_timeout", "0s", "connect_timeout: must be longer than 0s"),
        ("timeout", "0s", "timeout: must be longer than 0s"),
        ("state_dir", "notes.txt/state", "notes.txt/state is not a directory"),
    ],
)
def test_check_catches_what_the_sink_would_trip_over(key, value, complaint, broker, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_IFTTT_KEY", KEY)
    (tmp_path / "notes.txt").write_text("a file")
    sinks = {"sheet": {"type": "ifttt", "event": "lab", "key": "${TEST_IFTTT_KEY}", key: value}}
    path = tmp_path / "labmon.toml"
    path.write_text(tomli_w.dumps(collector_table(broker, ["table1"], sinks=sinks)))
    result = invoke("check", str(path))
    assert result.exit_code != 0 and complaint in result.output


def test_header_goes_out_through_every_ifttt_sink(write_config, broker, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_IFTTT_KEY", KEY)
    with ScriptedServer(CONGRATS) as server:
        common = {"type": "ifttt", "key": "${TEST_IFTTT_KEY}", "base_url": server.url, "state_dir": "state"}
        sinks = {
            "fresh": {**common, "event": "fresh"},  # nothing learned yet: says so, the others still go out
            "fixed": {**common, "event": "fixed", "columns": ["a/b/c", "d/e/f"]},
            "learned": {**common, "event": "learned"},
            "whole": {**common, "event": "whole", "mode": "json"},
        }
        config = write_config(collector_table(broker, ["table1"], sinks=sinks))
        learned = IftttSink(next(e.config for e in config.collector.sinks if e.name == "learned"))
        learned.write(batch())
        result = invoke("ifttt-header", str(config.path))
        requests = server.wait_for(3)
    assert result.exit_code == 1
    assert "sink fresh: FAILED: no columns yet" in result.output
    assert "sink fixed: header sent (2 columns)" in result.output
    assert "sink learned: header sent (1 columns)" in result.output
    assert "sink whole: json mode posts whole batches and has no header row; skipped" in result.output
    headers = {r.path.split("/")[2]: r.json()["value2"] for r in requests[1:]}
    assert headers == {"fixed": "a/b/c ||| d/e/f", "learned": "table1/laser1/lock_error"}
    assert KEY not in result.output


def test_a_config_with_only_json_mode_sinks_is_told_that_json_has_no_header(write_config, broker, monkeypatch):
    monkeypatch.setenv("TEST_IFTTT_KEY", KEY)
    sinks = {"whole": {"type": "ifttt", "key": "${TEST_IFTTT_KEY}", "event": "whole", "mode": "json"}}
    config = write_config(collector_table(broker, ["table1"], sinks=sinks))
    result = invoke("ifttt-header", str(config.path))
    assert result.exit_code == 1 and "no ifttt sink in row mode: only row mode has a header row" in result.output
