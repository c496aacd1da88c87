"""No traceback, whatever arrives: hung-up clients, endless durations, deep JSON, infinite times, bad files."""

import socket
import struct
import subprocess
import sys
import urllib.parse

import pytest
import tomli_w

from labmon.broker import free_port
from labmon.testing import wait_until
from tests.conftest import broker_table, invoke
from tests.web.conftest import fetch
from tests.web.test_http import basic

ENDLESS = "9" * 400 + "d"


@pytest.fixture
def page(broker, tmp_path):
    """`labmon --log-level debug web` in its own process (its stderr is what a team would see)."""
    (tmp_path / "web.secret").write_text("s3cret-page")
    port = free_port()
    config = {
        "broker": broker_table(broker),
        "collector": {
            "measurers": ["t1"], "data_dir": str(tmp_path / "data"),
            "web": {"listen": f"127.0.0.1:{port}", "password_file": "web.secret"},
        },
    }  # fmt: skip
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps(config))
    invoke("silence", "add", "t1", "--for", "1h", "--config", str(path))  # makes the data files
    process = subprocess.Popen(
        [sys.executable, "-m", "labmon", "--log-level", "debug", "web", str(path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _connects(port), timeout=60, what="the page to listen")
    yield url, port, process
    process.terminate()
    process.wait(30)


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_clients_that_hang_up_deep_json_infinite_times_and_raw_bytes_leave_no_traceback(page):
    url, port, process = page
    for _ in range(20):  # ask for the page, then reset the connection before reading the answer
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + _auth() + b"\r\n\r\n")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /\x1b[2J\x07 HTTP/1.0\r\n\r\n")  # a terminal escape in the request line
        client.recv(100)
    token = fetch(f"{url}/api/meta", headers=basic("s3cret-page"))[1]["csrf"]
    headers = {"Content-Type": "application/json", "X-Labmon-Csrf": token, **basic("s3cret-page")}
    for action in ("/api/silences", "/api/acks"):
        deep = urllib.request.Request(url + action, data=b"[" * 5000, headers=headers, method="POST")
        assert _status(deep) == 400
    endless = {"selector": "t1", "duration": ENDLESS}
    assert fetch(f"{url}/api/silences", data=endless, headers=headers)[0] == 400
    for since in ("-inf", "nan", "-1e999"):
        query = urllib.parse.urlencode({"s": "t1/a/b", "since": since})
        assert fetch(f"{url}/api/series?{query}", headers=basic("s3cret-page"))[0] == 400
    status, alerts = fetch(f"{url}/api/alerts", headers=basic("s3cret-page"))
    assert status == 200 and "Infinity" not in str(alerts)
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr and "\x1b" not in stderr and "\x07" not in stderr, stderr[-2000:]
    assert "\\x1b[2J" in stderr  # the request line is logged, escaped


def _auth():
    return basic("s3cret-page")["Authorization"].encode()


def _status(request):
    import urllib.error

    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_endless_silence_is_refused_and_stores_nothing(tmp_path, broker):
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps({"broker": broker_table(broker), "collector": {"measurers": ["t1"]}}))
    result = invoke("silence", "add", "t1/*", "--for", ENDLESS, "--config", str(path))
    assert result.exit_code != 0 and "longer than 10 years" in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "silences: none" in invoke("silence", "list", "--config", str(path)).output


def test_a_corrupted_history_is_an_error_not_a_traceback(tmp_path):
    from labmon.models import Batch, Reading, Result
    from labmon_collector.history.writer import HistoryConfig, HistorySink

    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for i in range(200):
        readings = tuple(Reading(f"r{k}", float(i), "V", instrument="i") for k in range(50))
        sink.write(Batch(i, 1000.0 + i, (Result("x", "m", 1000.0 + i, readings),)))
    sink.close()
    data = bytearray((tmp_path / "h.sqlite").read_bytes())
    for page_start in range(8192, len(data), 4096):  # leave the first pages, the schema, readable
        data[page_start + 100 : page_start + 300] = b"\xff" * 200
    (tmp_path / "bad.sqlite").write_bytes(bytes(data))
    result = invoke("history", str(tmp_path / "bad.sqlite"), "*", "--since", "3000d")
    assert result.exit_code == 1 and "cannot be read as a labmon history" in result.output
    assert isinstance(result.exception, SystemExit)


def test_check_refuses_a_data_dir_that_cannot_be_made(tmp_path, broker):
    path = tmp_path / "collector.toml"
    settings = {"measurers": ["t1"], "data_dir": "/proc/labmon-data"}
    path.write_text(tomli_w.dumps({"broker": broker_table(broker), "collector": settings}))
    result = invoke("check", str(path))
    assert result.exit_code == 1 and "data_dir: cannot create anything in /proc" in result.output


def test_late_replies_are_logged_once_a_minute_with_a_count(lab, broker, write_config, listen, caplog):
    from labmon.messages import Topics, encode_result
    from labmon.models import Reading, Result
    from labmon_collector.service import Collector
    from tests.conftest import collector_table

    collector = Collector(write_config(collector_table(broker, lab)))
    collector.start()
    assert collector.wait_connected(10)
    with listen("late-replies") as forger:
        for n in range(200):
            late = Result(f"old-{n}", lab[0], 1.0, (Reading.ok("x", 1.0),))
            forger.client.publish(Topics("labmon", lab[0]).results, encode_result(late))
        wait_until(lambda: collector.counters.late == 200, what="200 late replies counted")
    collector.stop()
    assert len([r for r in caplog.records if "late or duplicate" in r.getMessage()]) == 1


def test_an_endless_silence_an_older_labmon_stored_ends_in_ten_years(tmp_path, broker):
    from labmon_collector.alerting.alertstore import AlertStore

    path = tmp_path / "collector.toml"
    settings = {"measurers": ["t1"], "data_dir": str(tmp_path / "data")}
    path.write_text(tomli_w.dumps({"broker": broker_table(broker), "collector": settings}))
    invoke("silence", "add", "t1", "--for", "1h", "--config", str(path))
    store = AlertStore(tmp_path / "data" / "alerts.sqlite")
    store.add_silence("t1/*", 0.0, float("inf"), "from before the bound")
    store.close()
    listed = invoke("silence", "list", "--config", str(path))
    assert listed.exit_code == 0 and "from before the bound" in listed.output
    assert invoke("status", str(path)).exit_code in (0, 1, 2)
