"""Acknowledging from the page: behind its password and CSRF token, seen by the running collector."""

from labmon.testing import wait_until
from tests.web.conftest import fetch
from tests.web.test_http import basic


def test_the_page_acknowledges_a_firing_alert_behind_its_password_and_token(start_lab, monkeypatch):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}", public=True)
    token = fetch(lab.url + "/api/meta")[1]["csrf"]
    ack = {"selector": lab.laser, "comment": "relocking", "by": "mallory"}  # who acts is who logged in, not this
    good = {"Content-Type": "application/json", "X-Labmon-Csrf": token, "Origin": lab.url}
    good |= basic("s3cret-page", "alice")
    assert fetch(lab.url + "/api/acks", data=ack, headers={**good, "Authorization": ""})[0] == 401
    assert fetch(lab.url + "/api/acks", data=ack, headers={**good, "X-Labmon-Csrf": "guess"})[0] == 403
    assert fetch(lab.url + "/api/acks", data=ack, headers={**good, "Origin": "http://evil.example"})[0] == 403
    assert fetch(lab.url + "/api/acks", data={"selector": "a//b"}, headers=good)[0] == 400
    assert fetch(lab.url + "/api/acks", data=["not", "an", "object"], headers=good)[0] == 400

    # the laser blinks: acknowledge it once it fires (409 meanwhile: nothing firing to acknowledge)
    def acknowledged():
        answer = fetch(lab.url + "/api/acks", data=ack, headers=good)
        return answer[0] != 409 and answer

    status, body = wait_until(acknowledged)
    assert status == 200 and body["acknowledged"] == [{"rule": "laser-unlocked", "series": lab.laser}]
    events = wait_until(lambda: [e for e in fetch(lab.url + "/api/events")[1]["events"] if e["kind"] == "acknowledged"])
    assert [(e["series"], e["detail"]) for e in events] == [(lab.laser, "acknowledged by alice: relocking")]


def test_the_alerts_api_says_acknowledged_latched_escalated_held_back_muted(write_config, broker, tmp_path):
    from labmon_collector.alerting.alertstore import AlertStore, SeriesState
    from labmon_collector.alerting.events import EventLog
    from labmon_collector.web.view import LabView
    from tests.conftest import collector_table

    rules = [
        {"name": "master", "select": "t1/master/lock", "above": 0.5, "latch": True},
        {"name": "slave", "select": "t1/slave/lock", "above": 0.5, "depends_on": ["master"]},
        {"name": "oven", "select": "t1/oven/t", "above": 200.0, "escalate_after": "30m", "escalate_to": ["console"]},
    ]
    windows = [
        {"start": "00:00", "end": "12:00", "select": "t1/oven"},
        {"start": "12:00", "end": "00:00", "select": "t1/oven"},
    ]
    notifiers = {"console": {"type": "console"}}
    config = write_config(collector_table(broker, ["t1"], rules=rules, notifiers=notifiers, mute_windows=windows))
    settings = config.collector
    store = AlertStore(settings.data_dir / "alerts.sqlite")
    firing = SeriesState("firing", since=0.0, notified_at=0.0)
    states = {
        ("master", "t1/master/lock"): SeriesState("firing", since=0.0, cleared_since=60.0, notified_at=0.0),
        ("slave", "t1/slave/lock"): firing,
        ("oven", "t1/oven/t"): firing,
    }
    store.save(states, {})
    store.acknowledge("t1/master", "alice", "relocking", now=100.0)
    store.escalate("oven", "t1/oven/t", 1800.0)
    store.note(held_back=[["slave", "t1/slave/lock", "rule master fires"]])
    view = LabView(settings, store, EventLog(settings.data_dir / "events.sqlite"))
    shown = {a["rule"]: a for a in view.alerts()["active"]}
    assert shown["master"]["acknowledged"] == "acknowledged by alice: relocking" and shown["master"]["latched"]
    assert shown["slave"]["held_back"] == "rule master fires" and not shown["slave"]["latched"]
    assert shown["oven"]["escalated"] and shown["oven"]["muted"]
    assert [w["window"] for w in view.alerts()["mute_windows"]] == [
        "daily 00:00-12:00 t1/oven",
        "daily 12:00-00:00 t1/oven",
    ]
