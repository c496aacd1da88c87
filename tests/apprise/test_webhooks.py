"""Apprise's JSON and form webhooks to a real HTTP server on loopback: the payload, and every kind of failure."""

import subprocess
import sys
from urllib.parse import parse_qs

import pytest

from labmon import PermanentError, RetryLater, Secret, TransientError
from labmon.testing import Answer, ScriptedServer
from labmon_apprise.notifier import AppriseConfig, AppriseNotifier
from tests.apprise.conftest import PASSWORD, TOKEN, alert, free_port
from tests.conftest import collector_table


def notifier(*urls: str, timeout: float = 10.0) -> AppriseNotifier:
    return AppriseNotifier(AppriseConfig(urls=Secret("\n".join(urls)), timeout=timeout))


def hook(server: ScriptedServer, kind: str = "json", query: str = "") -> str:
    """Return the Apprise URL of a webhook on `server` whose path and login carry secrets."""
    return f"{kind}://labmon:{PASSWORD}@{server.url.removeprefix('http://')}/hooks/{TOKEN}{query}"


def assert_hidden(text: str) -> None:
    assert TOKEN not in text and PASSWORD not in text


def test_json_webhook_gets_title_message_and_type():
    with ScriptedServer(Answer(200)) as server:
        notifier(hook(server)).notify(alert())
        (request,) = server.wait_for(1)
    assert request.path == f"/hooks/{TOKEN}"
    body = request.json()
    assert body["title"] == "CRITICAL: laser1-unlocked on table1/laser1/lock_error"
    assert body["message"].startswith("table1/laser1/lock_error has been above 0.5 V for 20m (now 1.05 V)\n\n")
    assert body["type"] == "failure"


def test_form_webhook_gets_the_same_as_form_fields():
    with ScriptedServer(Answer(200)) as server:
        notifier(hook(server, "form")).notify(alert("resolved", message="back at 0.05 V"))
        (request,) = server.wait_for(1)
    fields = parse_qs(request.body.decode())
    assert fields["title"] == ["RESOLVED: laser1-unlocked on table1/laser1/lock_error"]
    assert fields["type"] == ["success"] and fields["message"][0].startswith("back at 0.05 V\n")


@pytest.mark.parametrize(
    ("answer", "error", "says"),
    [
        (Answer(400, b"bad request"), PermanentError, "url 1 (JSON) rejected the request (HTTP 400)"),
        (Answer(404, b"no such hook"), PermanentError, "url 1 (JSON) answered HTTP 404: no such webhook or endpoint"),
        (Answer(401, b"who are you"), PermanentError, "url 1 (JSON) answered HTTP 401"),
        (Answer(429, b"slow down"), RetryLater, "url 1 (JSON) rate limit (HTTP 429)"),
        (Answer(503, b"overloaded"), TransientError, "url 1 (JSON) answered HTTP 503"),
    ],
)
def test_http_failures_are_classified_and_never_show_the_url(answer, error, says):
    with ScriptedServer(answer) as server, pytest.raises(error) as caught:
        notifier(hook(server)).notify(alert())
    assert str(caught.value).startswith(says), caught.value
    assert_hidden(str(caught.value))


def test_a_webhook_server_that_is_down_is_retried_and_nothing_leaks():
    url = f"json://labmon:{PASSWORD}@127.0.0.1:{free_port()}/hooks/{TOKEN}"
    with pytest.raises(TransientError) as caught:
        notifier(url).notify(alert())
    assert "url 1 (JSON): A Connection error occurred" in str(caught.value)
    assert "Connection refused" in str(caught.value)
    assert_hidden(str(caught.value))


def test_a_server_that_stalls_past_the_timeout_is_retried():
    with ScriptedServer(Answer(200, delay=5.0)) as server, pytest.raises(TransientError) as caught:
        notifier(hook(server), timeout=0.3).notify(alert())
    assert str(caught.value) == "url 1 (JSON): no answer within 0.3s"


def test_a_retry_goes_only_to_the_urls_that_failed():
    with ScriptedServer(Answer(200)) as good, ScriptedServer(Answer(200)) as flaky:
        flaky.script.append(Answer(503, b"overloaded"))
        both = notifier(hook(good), hook(flaky, "form"))
        with pytest.raises(TransientError) as caught:
            both.notify(alert())
        assert str(caught.value).startswith("1 of 2 URLs have it (not sent again); url 2 (Form) answered HTTP 503")
        both.notify(alert())
        flaky.wait_for(1, status=200)
        both.notify(alert(at=1_764_002_000.0))  # the next alert goes to both again
        flaky.wait_for(2, status=200)
    assert len(good.requests) == 2 and len(flaky.requests) == 3


def test_debug_logging_shows_what_apprise_said_but_no_secret(write_config, broker, tmp_path):
    with ScriptedServer(Answer(200)) as good:
        down = f"form://labmon:{PASSWORD}@127.0.0.1:{free_port()}/hooks/{TOKEN}"
        (tmp_path / "urls").write_text(f"# the lab's hooks\n{hook(good)}\n{down}\n")
        notifiers = {"team": {"type": "apprise", "urls_file": str(tmp_path / "urls")}}
        config = write_config(collector_table(broker, ["table1"], notifiers=notifiers))
        command = [sys.executable, "-m", "labmon", "--log-level", "debug", "notify-test", str(config.path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        good.wait_for(1)
    assert result.returncode == 1
    assert "team (apprise): FAILED: 1 of 2 URLs have it (not sent again); url 2 (Form): A Connection" in result.stderr
    assert "url 1 (JSON): [DEBUG] JSON POST URL: http://***:" in result.stderr
    assert_hidden(result.stdout + result.stderr)


def test_a_status_in_the_alerts_own_text_does_not_decide():
    with ScriptedServer(Answer(503, b"overloaded")) as server, pytest.raises(TransientError):
        notifier(hook(server)).notify(alert(message="scope answered error=404, b'x' (535, b'no') Exception: 401"))
