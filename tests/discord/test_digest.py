"""`labmon report --send`: the weekly digest reaches Discord as one embed with the worst series' plot attached."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from labmon.testing import ScriptedServer
from tests.collector.healthkit import collector_config, write_history
from tests.conftest import invoke

from .test_discord import MESSAGE_OK
from .test_plot import PNG_SIGNATURE, parts


def test_report_send_posts_the_digest_with_its_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    history = tmp_path / "history.sqlite"
    write_history(
        history,
        {"t1/laser1/lock": lambda t: 2.0 if t % 86400 < 3600 else 0.1},
        [now - 3 * 86400 + i * 600 for i in range(432)],
    )
    with ScriptedServer(MESSAGE_OK) as server:
        monkeypatch.setenv("TEST_DISCORD_HOOK", f"{server.url}/api/webhooks/1/token")
        config = collector_config(
            tmp_path / "collector.toml",
            '[collector.digest]\nschedule = "mon 09:00"\ntimezone = "UTC"\nnotifiers = ["team"]',
            f'[collector.sinks.history]\ntype = "sqlite"\npath = "{history}"',
            '[collector.notifiers.team]\ntype = "discord"\nwebhook_url = "${TEST_DISCORD_HOOK}"',
            '[collector.notifiers.other]\ntype = "console"',
            '[[collector.rules]]\nname = "lock"\nselect = "t1/laser1/lock"\nabove = 1.0',
            keys=f'data_dir = "{tmp_path}"',
        )
        result = invoke("report", str(config), "--send")
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "team: sent"  # only the digest's notifiers
        (request,) = server.wait_for(1)
    sent = parts(request)
    (embed,) = json.loads(sent["payload_json"][1])["embeds"]
    assert embed["title"] == "INFO: labmon-digest" and embed["image"] == {"url": "attachment://plot.png"}
    assert embed["description"].startswith("labmon weekly digest: the 7 days to ")
    assert "t1/laser1/lock" in embed["description"]
    assert sent["_plot.png"][1].startswith(PNG_SIGNATURE)


def test_a_digest_naming_an_unknown_notifier_is_a_config_error(tmp_path: Path) -> None:
    config = collector_config(
        tmp_path / "collector.toml",
        '[collector.digest]\nnotifiers = ["team"]',
        '[collector.notifiers.console]\ntype = "console"',
    )
    checked = invoke("check", str(config))
    assert checked.exit_code == 1 and "no notifier named 'team'" in checked.output
