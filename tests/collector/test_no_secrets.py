"""Every command needs only the secrets it uses: a team member acknowledges without holding every token."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from labmon.testing import Answer, ScriptedServer, wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke

SECRETS = ("TEST_NS_DISCORD", "TEST_NS_PG", "TEST_NS_HEARTBEAT", "TEST_NS_MQTT")


@pytest.fixture
def configured(lab, broker, write_config, tmp_path, monkeypatch):
    """A collector config whose notifier, sink, heartbeat and broker login come from the environment; run once."""
    (tmp_path / "web.secret").write_text("page-password")
    with ScriptedServer(Answer.json(200, {"id": "1"})) as stand_in:
        values = [f"{stand_in.url}/api/webhooks/1/t", "postgresql://x@127.0.0.1:1/x", stand_in.url, "pw"]
        for name, value in zip(SECRETS, values, strict=True):
            monkeypatch.setenv(name, value)
        rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
        table = collector_table(
            broker, lab, rules=[rule], heartbeat={"url": "${TEST_NS_HEARTBEAT}"},
            notifiers={"discord": {"type": "discord", "webhook_url": "${TEST_NS_DISCORD}"}},
            sinks={"pg": {"type": "postgres", "dsn": "${TEST_NS_PG}"}},
            web={"listen": "127.0.0.1:0", "password_file": "web.secret"},
        )  # fmt: skip
        table["broker"] |= {"username": "labmon", "password": "${TEST_NS_MQTT}"}
        config = write_config(table)
        collector = Collector(config)
        collector.start()
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        collector.stop()
    for name in SECRETS:
        monkeypatch.delenv(name)
    return config.path


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["ack", "*", "--by", "alice", "--comment", "on it"],
        ["silence", "add", "*/laser1", "--for", "1h"],
        ["silence", "list"],
        ["outbox", "list"],
        ["alerts"],
    ],
)
def test_a_command_runs_without_the_secrets_it_does_not_use(configured, command):
    args = (
        [*command, str(configured)] if command[0] in ("status", "alerts") else [*command, "--config", str(configured)]
    )
    result = invoke(*args)
    assert "is not set" not in result.output and "invalid config" not in result.output, result.output
    assert result.exit_code in ((0, 1, 2) if command[0] == "status" else (0,)), result.output


def test_notify_test_still_says_which_secret_is_missing(configured):
    result = invoke("notify-test", str(configured))
    assert result.exit_code == 1 and "environment variable TEST_NS_DISCORD is not set" in result.output
    assert "TEST_NS_PG" in result.output  # start-up checks everything, and says all of it at once


def test_the_page_serves_without_the_notifiers_secrets(configured, tmp_path):
    port = _free_port()
    page = subprocess.Popen(
        [sys.executable, "-m", "labmon", "web", str(configured), "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), timeout=60, what="the page to answer")
    finally:
        page.terminate()
        page.wait(30)


def test_the_page_says_when_its_own_password_cannot_be_read(configured, tmp_path):
    (tmp_path / "web.secret").unlink()
    result = invoke("web", str(configured))
    assert result.exit_code == 1 and "cannot read secret file" in result.output and "web.secret" in result.output


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        return True  # a login page or 401 is an answer
    except OSError:
        return False
    return True
