"""What every service receives: a title that says what happened, the message and its facts, a severity type."""

import pytest

from labmon_apprise.message import body, notify_type, title
from tests.apprise.conftest import alert


def test_titles_say_firing_still_firing_or_resolved():
    assert title(alert()) == "CRITICAL: laser1-unlocked on table1/laser1/lock_error"
    assert title(alert(repeat=2)) == "STILL CRITICAL: laser1-unlocked on table1/laser1/lock_error"
    assert title(alert("resolved")) == "RESOLVED: laser1-unlocked on table1/laser1/lock_error"


def test_the_body_is_the_message_then_the_facts():
    assert body(alert(repeat=2)).splitlines() == [
        "table1/laser1/lock_error has been above 0.5 V for 20m (now 1.05 V)",
        "",
        "state: firing (reminder 2)",
        "severity: critical",
        "series: table1/laser1/lock_error",
        "value: 1.05 V",
        "threshold: 0.5 V",
        "held for: 20m",
        "since: 2025-11-24T16:00:00.000+00:00",
    ]


def test_an_error_alert_without_value_or_threshold_and_a_resolved_one_say_so():
    facts = body(alert("resolved", value=None, threshold=None, unit="")).splitlines()
    assert "state: resolved" in facts and "value: -" in facts and "threshold: -" in facts and "lasted: 20m" in facts


@pytest.mark.parametrize(
    ("state", "severity", "expected"),
    [
        ("firing", "critical", "failure"),
        ("firing", "warning", "warning"),
        ("firing", "info", "info"),
        ("firing", "page-me", "warning"),
        ("resolved", "critical", "success"),
    ],
)
def test_the_apprise_type_follows_severity_and_resolution(state, severity, expected):
    assert notify_type(alert(state, severity=severity)) == expected
