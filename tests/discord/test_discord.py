import subprocess
import sys

import pytest

from labmon import Alert, PermanentError, RetryLater, TransientError
from labmon.options import Secret
from labmon.testing import Answer, ScriptedServer, SilentListener
from labmon_discord.embed import clip, length
from labmon_discord.notifier import DiscordConfig, DiscordNotifier
from tests.conftest import collector_table, invoke

TOKEN = "t0ken-that-must-never-show"
MESSAGE_OK = Answer.json(200, {"id": "1", "attachments": []})
TIMEOUTS = {"connect_timeout": 0.5, "timeout": 0.5}


def alert(state="firing", message="table1/laser1/lock_error has been above 0.5 V for 20m (now 1.05 V)"):
    return Alert(
        rule="laser1-unlocked",
        state=state,
        series="table1/laser1/lock_error",
        message=message,
        severity="critical",
        value=1.05,
        unit="V",
        threshold=0.5,
        since=1000.0,
        at=2200.0,
        labels={"measurer": "table1", "instrument": "laser1", "reading": "lock_error"},
    )


def notifier(server):
    return DiscordNotifier(DiscordConfig(webhook_url=Secret(f"{server.url}/api/webhooks/1/{TOKEN}"), **TIMEOUTS))


def test_an_alert_is_an_embed_with_the_facts():
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify(alert())
        (request,) = server.wait_for(1)
    # discord-webhook sends wait=True; Discord reads boolean query values case-insensitively
    assert request.path.lower() == f"/api/webhooks/1/{TOKEN}?wait=true".lower()
    body = request.json()
    assert body["allowed_mentions"] == {"parse": []} and body["username"] == "labmon"
    (embed,) = body["embeds"]
    assert embed["title"] == "CRITICAL: laser1-unlocked"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "measurer": "table1",
        "instrument": "laser1",
        "reading": "lock_error",
        "value": "1.05 V",
        "threshold": "0.5 V",
        "held for": "20m",
    }
    assert embed["color"] == int("d32f2f", 16)


def test_resolved_is_its_own_green_message():
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify(alert("resolved", "table1/laser1/lock_error is back at 0.05 V"))
        (embed,) = server.wait_for(1)[0].json()["embeds"]
    assert embed["title"] == "RESOLVED: laser1-unlocked" and embed["color"] == int("2e7d32", 16)


def test_long_messages_are_clipped_to_discord_limits():
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify(alert(message="x" * 10000))
        (embed,) = server.wait_for(1)[0].json()["embeds"]
    assert len(embed["description"]) == 4096 and embed["description"].endswith("…")
    assert clip("short", 10) == "short"


def discord_would_refuse(embed):
    """Return the limits Discord enforces (in UTF-16 code units) that `embed` breaks."""
    fields = embed["fields"]
    parts = [embed["title"], embed["description"], *(f["name"] for f in fields), *(f["value"] for f in fields)]
    broken = [
        name
        for name, text, limit in [
            ("title", embed["title"], 256),
            ("description", embed["description"], 4096),
            *(("field name", f["name"], 256) for f in fields),
            *(("field value", f["value"], 1024) for f in fields),
        ]
        if length(text) > limit or (name.startswith("field") and not text)
    ]
    return broken + (["total"] if sum(map(length, parts)) > 6000 else []) + (["fields"] if len(fields) > 25 else [])


@pytest.mark.parametrize("filler", ["x", "é", "🔥"])
def test_length_alone_never_breaks_a_limit_not_even_the_6000_total(filler):
    huge = filler * 5000
    big = alert(message=huge)
    big = type(big)(**{**big.__dict__, "rule": huge, "unit": huge, "labels": {k: huge for k in big.labels}})
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify(big)
        (embed,) = server.wait_for(1)[0].json()["embeds"]
    assert discord_would_refuse(embed) == []
    assert embed["title"].endswith("…") and embed["description"].startswith(filler)
    assert length(clip("🔥" * 10, 5)) <= 5


@pytest.mark.parametrize("answer", [Answer(204), Answer(200, b"ok, not json")])
def test_a_204_or_a_non_json_answer_is_success_not_a_crash(answer):
    with ScriptedServer(answer) as server:
        notifier(server).notify(alert())
        server.wait_for(1)


@pytest.mark.parametrize(
    ("answer", "error", "after"),
    [
        (
            Answer.json(429, {"message": "You are being rate limited.", "retry_after": 0.75, "global": False}),
            RetryLater,
            0.75,
        ),
        (Answer(429, b"", {"Retry-After": "3"}), RetryLater, 3.0),
        (Answer.json(404, {"message": "Unknown Webhook", "code": 10015}), PermanentError, None),
        (Answer.json(401, {"message": "Invalid Webhook Token"}), PermanentError, None),
        (Answer(502, b"bad gateway"), TransientError, None),
        (Answer(200, b"{}", delay=2.0), TransientError, None),
    ],
)
def test_failures_are_classified_and_never_show_the_url(answer, error, after):
    with ScriptedServer(answer) as server, pytest.raises(error) as caught:
        notifier(server).notify(alert())
    assert TOKEN not in str(caught.value)
    if after is not None:
        assert caught.value.after == after


def test_a_slow_service_is_a_timeout_and_a_silent_host_a_connect_timeout():
    with ScriptedServer(Answer(200, b"{}", delay=5.0)) as slow, pytest.raises(TransientError) as read:
        config = DiscordConfig(Secret(f"{slow.url}/api/webhooks/1/{TOKEN}"), connect_timeout=5.0, timeout=0.3)
        DiscordNotifier(config).notify(alert())
    assert "ReadTimeout" in str(read.value)
    with SilentListener() as silent, pytest.raises(TransientError) as connect:
        config = DiscordConfig(Secret(f"{silent.url}/api/webhooks/1/{TOKEN}"), connect_timeout=0.3, timeout=30.0)
        DiscordNotifier(config).notify(alert())
    assert "ConnectTimeout" in str(connect.value)
    assert TOKEN not in str(read.value) + str(connect.value)


def test_notify_test_sends_through_every_notifier(write_config, broker, monkeypatch):
    with ScriptedServer(MESSAGE_OK) as good, ScriptedServer(Answer.json(404, {"message": "Unknown Webhook"})) as gone:
        monkeypatch.setenv("TEST_DISCORD_GOOD", f"{good.url}/api/webhooks/1/{TOKEN}")
        monkeypatch.setenv("TEST_DISCORD_GONE", f"{gone.url}/api/webhooks/2/{TOKEN}")
        notifiers = {
            "lab": {"type": "discord", "webhook_url": "${TEST_DISCORD_GOOD}"},
            "old": {"type": "discord", "webhook_url": "${TEST_DISCORD_GONE}"},
        }
        config = write_config(collector_table(broker, ["table1"], notifiers=notifiers))
        result = invoke("notify-test", str(config.path))
        (request,) = good.wait_for(1)
    assert request.json()["embeds"][0]["description"].startswith("labmon test notification")
    assert result.exit_code == 1
    assert "lab (discord): sent" in result.output
    assert "old (discord): FAILED: Discord answered HTTP 404" in result.output
    assert TOKEN not in result.output


def test_debug_logging_does_not_show_the_webhook_token(write_config, broker, tmp_path):
    with ScriptedServer(MESSAGE_OK) as server:
        (tmp_path / "hook").write_text(f"{server.url}/api/webhooks/1/{TOKEN}")
        notifiers = {"lab": {"type": "discord", "webhook_url_file": str(tmp_path / "hook")}}
        config = write_config(collector_table(broker, ["table1"], notifiers=notifiers))
        result = subprocess.run(
            [sys.executable, "-m", "labmon", "--log-level", "debug", "notify-test", str(config.path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
