"""`labmon report --send` through Apprise: the weekly digest as one mail, the worst series' week attached as a PNG."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.apprise.conftest import MailServer, text_of
from tests.collector.healthkit import collector_config, write_history
from tests.conftest import invoke


def test_the_digest_arrives_as_a_mail_with_the_plot_attached(
    smtp: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    history = tmp_path / "history.sqlite"
    write_history(
        history,
        {"t1/laser1/lock": lambda t: 2.0 if t % 86400 < 3600 else 0.1},
        [now - 86400 + i * 600 for i in range(144)],
    )
    monkeypatch.setenv("TEST_MAIL_URL", smtp.url())
    config = collector_config(
        tmp_path / "collector.toml",
        '[collector.digest]\nschedule = "mon 09:00"\ntimezone = "UTC"',
        f'[collector.sinks.history]\ntype = "sqlite"\npath = "{history}"',
        '[collector.notifiers.mail]\ntype = "apprise"\nurls = "${TEST_MAIL_URL}"',
        '[[collector.rules]]\nname = "lock"\nselect = "t1/laser1/lock"\nabove = 1.0',
        keys=f'data_dir = "{tmp_path}"',
    )
    result = invoke("report", str(config), "--send")
    assert result.exit_code == 0, result.output
    (mail,) = smtp.wait_for(1)
    assert text_of(mail).startswith("labmon weekly digest: the 7 days to ")
    assert "t1/laser1/lock" in text_of(mail)
    (image,) = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert image.get_payload(decode=True).startswith(b"\x89PNG")
