"""What `labmon check` accepts starts without a traceback, even when the broker cannot be reached."""

import pytest
import tomli_w

from labmon.broker import free_port
from tests.conftest import invoke


@pytest.mark.parametrize(
    "broker",
    [
        {"host": "labmon-test.invalid", "port": 1883, "username": "u"},
        {"host": "127.0.0.1", "port": 0},  # replaced by a port where nothing listens
        {"host": "127.0.0.1", "port": 0, "tls": True},
        {"host": "localhost", "port": 0, "keepalive": "18h"},
    ],
    ids=["unresolvable", "refused", "tls-refused", "longest-keepalive"],
)
def test_an_unreachable_broker_is_a_missing_measurer_not_a_traceback(broker, tmp_path, caplog):
    broker = {**broker, "port": broker["port"] or free_port()}
    collector = {"interval": "1s", "reply_timeout": "200ms", "measurers": ["t1"], "data_dir": "new/nested/data"}
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps({"broker": broker, "collector": collector}))
    assert invoke("check", str(path)).exit_code == 0
    result = invoke("collector", str(path), "--once")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # t1 did not answer
    assert not [r for r in caplog.records if r.exc_info]
    assert (tmp_path / "new/nested/data/outbox.sqlite").exists()
