"""Every endpoint of the status page over real HTTP, the loopback default, the password and CSRF."""

import base64
import socket

import pytest

from labmon.config import WebConfig
from labmon.options import OptionError
from labmon.testing import wait_until
from tests.conftest import collector_table, invoke
from tests.web.conftest import fetch


def basic(password: str, user: str = "lab") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_pages_and_static_files_are_served_from_the_package(running_lab):
    for page in ("/", "/alerts", "/series?s=x", "/measurers"):
        status, body = fetch(running_lab.url + page)
        assert status == 200 and "/static/app.js" in body and "https://" not in body  # works offline
    for file in ("app.js", "style.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "favicon.svg"):
        assert fetch(f"{running_lab.url}/static/{file}")[0] == 200
    assert fetch(running_lab.url + "/static/../server.py")[0] == 404
    assert fetch(running_lab.url + "/static/nothing.js")[0] == 404
    status, body = fetch(running_lab.url + "/admin")
    assert status == 404 and "no page /admin" in body["error"]


def test_the_api_shows_tiles_alerts_history_series_and_measurers(running_lab):
    url, laser = running_lab.url, running_lab.laser
    meta = fetch(url + "/api/meta")[1]
    assert meta["interval"] == 0.5 and meta["can_act"] is False and meta["measurers"] == [running_lab.measurer]

    def firing_tile():
        tiles = {t["series"]: t for t in fetch(url + "/api/overview")[1]["tiles"]}
        return laser in tiles and tiles[laser]["state"] == "firing" and tiles

    tiles = wait_until(firing_tile)
    steady = tiles[f"{running_lab.measurer}/laser2/lock_error"]
    assert steady["state"] == "ok" and steady["unit"] == "V" and abs(steady["value"] - 0.04) < 1e-9
    assert len(steady["spark"][0]) == len(steady["spark"][1]) >= 1

    active = fetch(url + "/api/alerts")[1]["active"]
    assert [(a["rule"], a["series"], a["state"], a["threshold"], a["silenced"]) for a in active] == [
        ("laser-unlocked", laser, "firing", [0.5], False)
    ]

    def resolved():
        kinds = [e["kind"] for e in fetch(url + "/api/events?series=laser1")[1]["events"]]
        return "resolved" in kinds and kinds

    kinds = wait_until(resolved)
    assert {"firing", "notified", "resolved"} <= set(kinds)
    assert fetch(url + "/api/events?rule=no-such-rule")[1]["events"] == []
    status, body = fetch(url + "/api/events?since=forever")
    assert status == 400 and "since" in body["error"]

    status, series = fetch(f"{url}/api/series?s={laser}&range=1h")
    assert status == 200 and series["unit"] == "V"
    assert series["thresholds"] == [{"rule": "laser-unlocked", "value": 0.5}]
    times, values = series["data"][0], series["data"][1]
    assert len(times) == len(values) and max(v for v in values if v is not None) > 0.5
    assert series["firing"] and series["firing"][0]["rule"] == "laser-unlocked"
    assert fetch(f"{url}/api/series?s=nothing/here/x")[0] == 404
    assert fetch(f"{url}/api/series?s={laser}&since=10&until=5")[0] == 400
    assert fetch(f"{url}/api/series?s={laser}&since=soon")[0] == 400

    (measurer,) = fetch(url + "/api/measurers")[1]["measurers"]
    assert measurer["name"] == running_lab.measurer and measurer["status"] == "online"
    assert measurer["answered"] >= 1 and measurer["broker"].startswith("127.0.0.1:")


def test_the_page_listens_on_loopback_unless_told_and_then_needs_a_password_or_public():
    assert WebConfig().listen == "127.0.0.1:8080"
    with pytest.raises(OptionError, match="has no password"):
        WebConfig(listen="0.0.0.0:8080")
    assert WebConfig(listen="0.0.0.0:8080", public=True).public
    with pytest.raises(OptionError, match="not host:port"):
        WebConfig(listen="8080")


def test_labmon_check_names_the_key_of_an_open_page(broker, tmp_path):
    import tomli_w

    config = collector_table(broker, ["t1"], web={"listen": "0.0.0.0:8080"})
    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(config))
    result = invoke("check", str(path))
    assert result.exit_code == 1
    assert "[collector.web] listen:" in result.output and "password_file" in result.output


def test_a_password_guards_every_page_and_is_never_shown(start_lab, monkeypatch):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}")
    status, _ = fetch(lab.url + "/api/overview")
    assert status == 401
    assert fetch(lab.url + "/", headers=basic("wrong"))[0] == 401
    status, meta = fetch(lab.url + "/api/meta", headers=basic("s3cret-page"))
    assert status == 200 and meta["can_act"] is True
    for path in ("/api/meta", "/api/alerts", "/api/overview", "/api/measurers", "/api/events"):
        assert "s3cret-page" not in str(fetch(lab.url + path, headers=basic("s3cret-page"))[1])


def test_adding_a_silence_needs_the_password_json_our_origin_and_the_token(start_lab, monkeypatch):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}", public=True)
    assert fetch(lab.url + "/api/alerts")[0] == 200  # public: anyone may look
    token = fetch(lab.url + "/api/meta")[1]["csrf"]
    silence = {"selector": f"{lab.measurer}/*/*", "duration": "1h", "comment": "aligning"}
    good = {
        "Content-Type": "application/json",
        "X-Labmon-Csrf": token,
        "Origin": lab.url,
        **basic("s3cret-page", "bob"),
    }
    assert fetch(lab.url + "/api/silences", data=silence, headers={**good, "Authorization": ""})[0] == 401
    assert fetch(lab.url + "/api/silences", data=silence, headers={**good, "X-Labmon-Csrf": "guess"})[0] == 403
    assert fetch(lab.url + "/api/silences", data=silence, headers={**good, "Origin": "http://evil.example"})[0] == 403
    assert fetch(lab.url + "/api/silences", data=silence, headers={**good, "Content-Type": "text/plain"})[0] == 415
    assert fetch(lab.url + "/api/silences", data={"selector": "x"}, headers=good)[0] == 400
    assert fetch(lab.url + "/api/silences", data={**silence, "duration": "soon"}, headers=good)[0] == 400
    status, added = fetch(lab.url + "/api/silences", data=silence, headers=good)
    assert status == 200
    silences = fetch(lab.url + "/api/alerts")[1]["silences"]
    shown = [(s["id"], s["selector"], s["comment"]) for s in silences]
    assert shown == [(added["id"], silence["selector"], "aligning (by bob)")]  # who logged in, as --by says


def test_without_a_password_the_page_offers_no_actions(running_lab):
    token = fetch(running_lab.url + "/api/meta")[1]["csrf"]
    headers = {"Content-Type": "application/json", "X-Labmon-Csrf": token}
    status, body = fetch(running_lab.url + "/api/silences", data={"selector": "*", "duration": "1h"}, headers=headers)
    assert status == 403 and "labmon silence add" in body["error"]
    assert fetch(running_lab.url + "/api/other", data={"x": 1}, headers=headers)[0] == 404


def test_a_taken_port_leaves_the_collector_running_without_its_page(start_lab, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lab = start_lab(listen=f"127.0.0.1:{taken.getsockname()[1]}")
        assert "the status page cannot listen on" in caplog.text
        assert wait_until(lambda: lab.collector.status.get(lab.measurer) == "online")
        assert wait_until(lambda: "cycle 2:" in caplog.text)  # still polling


def test_a_loopback_page_answers_only_to_loopback_names(running_lab):
    import http.client

    port = int(running_lab.url.rsplit(":", 1)[1])
    for host, expected in [("evil.example:80", 421), (f"localhost:{port}", 200), (f"[::1]:{port}", 200)]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/meta", headers={"Host": host})
        assert connection.getresponse().status == expected, host
        connection.close()


def test_the_page_listens_on_ipv6_loopback_too(start_lab):
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    lab = start_lab(listen=f"[::1]:{port}")
    assert lab.collector.web is not None and lab.collector.web.url == f"http://[::1]:{port}/"
    assert fetch(f"http://[::1]:{port}/api/meta")[0] == 200


def raw_request(url: str, request: bytes, timeout: float = 10) -> bytes:
    """Send `request` bytes as they are (no client tidies them) and return the whole answer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_host_origin_path_and_length_get_400_or_411_never_a_500(start_lab, monkeypatch, caplog):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}", public=True)
    host = lab.url.removeprefix("http://")
    token = fetch(lab.url + "/api/meta")[1]["csrf"]
    auth = basic("s3cret-page")["Authorization"]

    def post(headers: str, body: bytes = b"{}") -> bytes:
        head = f"POST /api/silences HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nX-Labmon-Csrf: {token}\r\n"
        head += "Content-Type: application/json\r\nConnection: close\r\n" + headers
        return raw_request(lab.url, head.encode("latin-1") + b"\r\n" + body)  # HTTP headers are Latin-1

    answer = raw_request(lab.url, b"GET /api/meta HTTP/1.1\r\nHost: [\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and b"malformed Host header" in answer
    answer = raw_request(lab.url, f"GET http://[/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 400") and b"malformed request path" in answer
    answer = post("Origin: http://[\r\nContent-Length: 2\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and b"malformed Origin header" in answer
    answer = post("Content-Length: ²\r\n")  # "²".isdigit() is True, int("²") raises
    assert answer.startswith(b"HTTP/1.0 411")
    assert "Traceback" not in caplog.text and "failed on" not in caplog.text


def test_an_idle_connection_is_dropped_after_the_handler_timeout(running_lab, monkeypatch):
    from labmon_collector.web.server import PageHandler

    assert PageHandler.timeout == 30
    monkeypatch.setattr(PageHandler, "timeout", 0.5)  # the same path, quicker
    assert raw_request(running_lab.url, b"", timeout=20) == b""  # nothing sent: the server closes, no thread held


def test_the_page_logs_ack_by_and_comment_on_one_line(start_lab, monkeypatch, caplog):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}", public=True)
    token = fetch(lab.url + "/api/meta")[1]["csrf"]
    forged = "\nCRITICAL labmon forged line"
    good = {"Content-Type": "application/json", "X-Labmon-Csrf": token, **basic("s3cret-page", "eve" + forged)}
    ack = {"selector": lab.laser, "comment": "ok" + forged}
    wait_until(lambda: fetch(lab.url + "/api/acks", data=ack, headers=good)[0] == 200)
    logged = [r.getMessage() for r in caplog.records if "acknowledged from the page" in r.getMessage()]
    assert logged and all("\n" not in line for line in logged)
    assert "eve\\nCRITICAL labmon forged line" in logged[0]
