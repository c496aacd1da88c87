"""Table-driven: broken configs that start-up would trip over are caught by `labmon check`, each with its key."""

from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.core.test_config import COLLECTOR

BASE = """
[broker]
host = "127.0.0.1"
port = 1883
""" + COLLECTOR.replace('reply_timeout = "10s"', 'reply_timeout = "10s"\ndata_dir = "data"')
SELECT = "table1/laser1/lock_error"
MEASURERS = 'measurers = ["table1", "table2"]'


def broker_with(line: str) -> str:
    """Return the base collector config with `line` added to [broker]."""
    return BASE.replace("port = 1883", f"port = 1883\n{line}")


def select(selector: str) -> str:
    """Return the base collector config with its rule selecting `selector`."""
    return BASE.replace(SELECT, selector)


MEASURER = """
[broker]
port = 1883

[measurer]
name = "table1"

[measurer.instruments.laser1]
type = "sim"
"""

CASES = [
    ("port 0", BASE.replace("port = 1883", "port = 0"), "[broker] port: 0 is not a TCP port"),
    ("port too high", BASE.replace("port = 1883", "port = 70000"), "port: 70000 is not a TCP port"),
    ("port negative", BASE.replace("port = 1883", "port = -1"), "port: -1 is not a TCP port"),
    ("port as text", BASE.replace("port = 1883", 'port = "1883"'), "port: expected an integer"),
    ("empty host", BASE.replace('host = "127.0.0.1"', 'host = ""'), "[broker] host: is empty"),
    ("blank host", BASE.replace('host = "127.0.0.1"', 'host = "  "'), "[broker] host: is empty"),
    ("zero keepalive", broker_with('keepalive = "0s"'), "keepalive: must be longer"),
    ("huge keepalive", broker_with('keepalive = "1d"'), "at most 18h"),
    ("tiny max_payload", broker_with("max_payload = 10"), "max_payload: must be at"),
    ("missing ca_file", broker_with('ca_file = "nope.pem"'), "nope.pem does not exist"),
    ("ca_file not a cert", broker_with('ca_file = "notes.txt"'), "not a readable CA"),
    ("ca_file a directory", broker_with('ca_file = "adir"'), "not a readable CA"),
    ("topic wildcard +", broker_with('topic_prefix = "lab/+"'), "topic_prefix: must not contain '+'"),
    ("topic wildcard #", broker_with('topic_prefix = "lab/#"'), "topic_prefix: must not contain '#'"),
    ("topic NUL", broker_with('topic_prefix = "lab\\u0000"'), "topic_prefix: must not contain '\\x00'"),
    ("client id NUL", broker_with('client_id_prefix = "lab\\u0000"'), "client_id_prefix: must not contain"),
    ("empty secret file", broker_with('username = "lab"\npassword_file = "empty.txt"'), "secret is empty"),
    ("secret not UTF-8", broker_with('username = "lab"\npassword_file = "latin1.txt"'), "latin1.txt is not UTF-8"),
    ("zero interval", BASE.replace('interval = "60s"', 'interval = "0s"'), "interval: must be longer than 0s"),
    ("zero reply_timeout", BASE.replace('reply_timeout = "10s"', 'reply_timeout = "0s"'), "reply_timeout: must be"),
    ("unknown inquire", BASE.replace('reply_timeout = "10s"', 'reply_timeout = "10s"\ninquire = "some"'), "inquire:"),
    ("data_dir under a file", BASE.replace('data_dir = "data"', 'data_dir = "notes.txt/data"'), "is not a directory"),
    ("sink path a directory", BASE.replace('path = "history.csv"', 'path = "adir"'), "path: "),
    ("csv path under a file", BASE + '[collector.sinks.csv]\ntype = "csv"\npath = "notes.txt/x.csv"\n', "not a dir"),
    ("empty measurers", BASE.replace(MEASURERS, "measurers = []"), "measurers: no measurers to poll"),
    ("empty measurer table", BASE.replace(MEASURERS, "measurers = {}"), "no measurers to poll"),
    ("no measurers", BASE.replace(MEASURERS, ""), "measurers: no measurers to poll"),
    ("twice", BASE.replace('["table1", "table2"]', '["table1", "table1"]'), "'table1' is listed twice"),
    ("select empty part", select("table1//lock_error"), "has an empty part"),
    ("select unclosed", select("table1/[laser/x"), "unclosed or empty"),
    ("select four parts", select("table1/a/b/c"), "has 4 parts"),
    ("select no match", select("tabel1/laser1/x"), "'tabel1' matches no measurer"),
    ("select control", select("table1/\\u0007/x"), "control characters"),
    ("rules, no notifier", BASE.replace('[collector.notifiers.console]\ntype = "console"', ""), "but no notifier"),
    ("rule name a list", BASE.replace('"laser1-unlocked"', '["x"]'), "name: expected a string, found a list"),
    ("message attribute", BASE + 'message = "{rule.x}"\n', "message: bad template: AttributeError"),
    ("message index", BASE + 'message = "{value[0]}"\n', "message: bad template: TypeError"),
    ("zero window", BASE + 'window = "0s"\n', "window: must be longer than 0s"),
    ("zero repeat", BASE + 'repeat_interval = "0s"\n', "repeat_interval: must be longer"),
    ("zero rate_per", BASE.replace("above = 0.5", 'rate_above = 1.0\nrate_per = "0s"'), "rate_per: must be"),
    ("zero stale", BASE.replace("above = 0.5", 'stale = "0s"'), "stale: must be longer than 0s"),
    ("negative for", BASE.replace('for = "20m"', 'for = "-5s"'), "for: "),
    ("offline with parts", BASE.replace("above = 0.5", "offline = true"), "is not a measurer name"),
    (
        "own broker port",
        BASE.replace(MEASURERS, "[collector.measurers.table1.broker]\nport = 0"),
        "[collector.measurers.table1.broker] port: 0 is not a TCP port",
    ),
    ("zero retry", BASE + '[collector.delivery]\nretry_initial = "0s"\n', "retry_initial"),
    ("notifier cap 0", BASE.replace('type = "console"', 'type = "console"\nmax_per_hour = 0'), "max_per_hour"),
    ("instrument timeout 0", MEASURER + 'timeout = "0s"\n', "timeout: must be longer than 0s"),
    ("measurer port 0", MEASURER.replace("port = 1883", "port = 0"), "port: 0 is not a TCP port"),
    ("bad measurer name", MEASURER.replace('"table1"', '"table 1"'), "is not a valid name"),
    ("no instruments", MEASURER.split("[measurer.instruments")[0], "no instruments configured"),
]


@pytest.mark.parametrize(("text", "complaint"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_check_rejects_what_start_up_would_trip_over(node_file, tmp_path: Path, text: str, complaint: str) -> None:
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "empty.txt").write_text(" \n")
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    path = node_file(text)
    result = invoke("check", str(path))
    assert result.exit_code == 1, result.output
    assert complaint in result.output
    assert "Traceback" not in result.output


def test_the_base_configs_pass(tmp_path: Path) -> None:
    for name, text in [("collector.toml", BASE), ("measurer.toml", MEASURER)]:
        (tmp_path / name).write_text(text)
        result = invoke("check", str(tmp_path / name))
        assert result.exit_code == 0, result.output
