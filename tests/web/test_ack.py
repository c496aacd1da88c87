"""Acknowledging from the page: behind its password and CSRF token, seen by the running collector."""

from tests.web.conftest import fetch, wait_until
from tests.web.test_http import basic


def test_the_page_acknowledges_a_firing_alert_behind_its_password_and_token(start_lab, monkeypatch):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}", public=True)
    token = fetch(lab.url + "/api/meta")[1]["csrf"]
    ack = {"selector": lab.laser, "comment": "relocking", "by": "alice"}
    good = {"Content-Type": "application/json", "X-Labmon-Csrf": token, "Origin": lab.url, **basic("s3cret-page")}
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
