"""The status page's HTTP server: the standard library's threading server, a tiny router, JSON and static files.

No dependency to install on a Pi; the page polls small JSON documents, so no connection is held open.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import json
import logging
import math
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from labmon.badinput import shown
from labmon.config import LOOPBACK, WebConfig
from labmon.rule_config import selector_problem
from labmon.times import parse_duration
from labmon_collector.disk import Refused, said_if_refused
from labmon_collector.web.view import LabView

if TYPE_CHECKING:
    from labmon_collector.service import Collector

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain",
    ".svg": "image/svg+xml",
}
PAGES = ("/", "/alerts", "/series", "/measurers")
RANGES = {"1h": 3600.0, "6h": 21600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "1y": 365 * 86400.0}
MAX_BODY = 10_000
COMPRESS_FROM = 1024
"""Bytes: a smaller body gains less from gzip than its header costs."""
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpError(Exception):
    """An answer other than 200, with a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebServer:
    """Serves the page for one LabView on `settings.listen` in a background thread."""

    def __init__(self, view: LabView, settings: WebConfig, metrics: Callable[[], bytes] | None = None) -> None:
        self.view = view
        self.settings = settings
        self.metrics = metrics
        """Renders /metrics (a running collector only: `labmon web` has no live figures)."""
        self.csrf = secrets.token_urlsafe(24)
        host, _, port = settings.listen.rpartition(":")
        self._address = (host.strip("[]"), int(port))
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_collector(cls, collector: Collector) -> WebServer:
        """Serve a running collector: its alert state and measurer status from memory, the rest from its files."""
        settings = collector.settings
        assert settings.web is not None
        # dict() copies in one step under the GIL: a copy taken during a cycle is whole, if a cycle old.
        view = LabView(
            settings, collector.store, collector.events, lambda: dict(collector.rules.states), lambda: collector.status
        )
        return cls(view, settings.web, lambda: collector_metrics(collector))

    @property
    def url(self) -> str:
        """Return the page's address."""
        assert self._httpd is not None
        host, port = str(self._httpd.server_address[0]), self._httpd.server_address[1]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # any address: this machine's is one
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> bool:
        """Listen and serve in a daemon thread; return False (and log why) if the address cannot be used.

        The collector keeps monitoring without its page: a taken port must not stop the alerts.
        """
        server = self

        class Handler(PageHandler):
            web = server

        server_class = PageServer if ":" not in self._address[0] else IPv6Server
        try:
            self._httpd = server_class(self._address, Handler)
        except OSError as exc:
            log.error("the status page cannot listen on %s: %s; running without it", self.settings.listen, exc)
            return False
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="labmon-web", daemon=True)
        self._thread.start()
        log.info("status page at %s", self.url)
        return True

    def stop(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.view.close()

    def host_allowed(self, host: str) -> bool:
        """Return whether a request naming `host` may be answered.

        A page on loopback answers only to loopback names, so a web site whose name an attacker points
        at 127.0.0.1 (DNS rebinding) cannot read it from a lab member's browser.
        """
        if self._address[0] not in LOOPBACK:
            return True
        return urlsplit(f"//{host}").hostname in LOOPBACK

    def may_view(self, authorization: str | None) -> bool:
        """Return whether a request may read: anyone if the page has no password or is public, else with it."""
        return self.settings.password is None or self.settings.public or self.authorised(authorization)

    def authorised(self, authorization: str | None) -> bool:
        """Return whether `authorization` (HTTP Basic, any user name) carries the configured password."""
        password = self.settings.password
        if password is None or not authorization or not authorization.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(authorization[6:], validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), str(password).encode())


class PageServer(ThreadingHTTPServer):
    """The page's HTTP server: a client that hangs up early is one debug line, not a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("a page client at %s hung up: %s", shown(str(client_address)), type(exc).__name__)
            return
        log.exception("the status page failed on a request from %s", shown(str(client_address)))


class IPv6Server(PageServer):
    """The same server on an IPv6 address such as ::1."""

    address_family = socket.AF_INET6


class PageHandler(BaseHTTPRequestHandler):
    """One request: check who asks, route, answer JSON, a page or a static file."""

    web: WebServer
    server_version = "labmon"
    timeout = 30  # seconds: a client that opens a connection and sends nothing must not hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), shown(format % args))  # the request line is the client's bytes

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _answer(self, route: Callable[[str, dict[str, str]], tuple[int, str, bytes]]) -> None:
        try:
            url = _parsed(self.path)
            host = self.headers.get("Host", "")
            if _netloc(f"//{host}") is None:  # urlsplit raises on a "[" with no "]"
                raise HttpError(400, "malformed Host header")
            if not self.web.host_allowed(host):
                raise HttpError(421, "unknown host name: open the page by the address the collector prints")
            if not self.web.may_view(self.headers.get("Authorization")):
                raise HttpError(401, "this page needs the password")
            status, kind, body = route(url.path, dict(parse_qsl(url.query)))
        except HttpError as exc:
            status, kind, body = exc.status, "application/json", _json({"error": str(exc)})
        except Exception:
            log.exception("the status page failed on %s", shown(self.path))
            status, kind, body = 500, "application/json", _json({"error": "internal error; see the collector's log"})
        body, encoding = _compressed(body, self.headers.get("Accept-Encoding", ""))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="labmon"')
        self.end_headers()
        self.wfile.write(body)

    def _get(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        view = self.web.view
        if path in PAGES:
            return 200, TYPES[".html"], (STATIC / "index.html").read_bytes()
        if path.startswith("/static/"):
            file = STATIC / path.removeprefix("/static/")
            if file.parent != STATIC or not file.is_file():
                raise HttpError(404, "no such file")
            return 200, TYPES.get(file.suffix, "application/octet-stream"), file.read_bytes()
        if path == "/metrics" and self.web.metrics is not None:
            return 200, METRICS_TYPE, self.web.metrics()
        api: dict[str, Callable[[], dict[str, Any] | None]] = {
            "/api/meta": lambda: view.meta() | {"csrf": self.web.csrf, "can_act": self._can_act()},
            "/api/overview": lambda: view.overview(query.get("since", "")),
            "/api/alerts": view.alerts,
            "/api/collector": view.collector,
            "/api/events": lambda: self._events(query),
            "/api/measurers": view.measurers,
            "/api/series": lambda: self._series(query),
        }
        if path not in api:
            raise HttpError(404, f"no page {path}")
        data = api[path]()
        if data is None:
            raise HttpError(404, f"no series {query.get('s', '')!r} in the history")
        return 200, "application/json", _json(data)

    def _events(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            return self.web.view.history_events(query)
        except ValueError as exc:
            raise HttpError(400, f"since: {exc}") from None

    def _series(self, query: dict[str, str]) -> dict[str, Any] | None:
        now = self.web.view.clock()
        try:
            until = float(query["until"]) if "until" in query else now
            since = float(query["since"]) if "since" in query else until - RANGES.get(query.get("range", "24h"), 86400)
        except ValueError:
            raise HttpError(400, "since and until are Unix times") from None
        if not (math.isfinite(since) and math.isfinite(until)):
            raise HttpError(400, "since and until are finite Unix times")
        if not since < until:
            raise HttpError(400, "since must be before until")
        return self.web.view.series(query.get("s", ""), since, until)

    def _can_act(self) -> bool:
        return self.web.authorised(self.headers.get("Authorization"))

    def _post(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        actions = {"/api/silences": ("adding a silence", self._silence), "/api/acks": ("acknowledging", self._ack)}
        if path not in actions:
            raise HttpError(404, f"no action {path}")
        what, act = actions[path]
        if self.web.settings.password is None:
            raise HttpError(403, "actions need [collector.web] password; use `labmon silence add` or `labmon ack`")
        if not self._can_act():
            raise HttpError(401, f"{what} needs the password")
        self._check_csrf()
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):  # "²".isdigit() is True
            raise HttpError(411, "send a Content-Length")
        if int(length) > MAX_BODY:
            raise HttpError(413, "request too large")
        try:
            body = json.loads(self.rfile.read(int(length)))
            selector, comment = str(body["selector"]), str(body.get("comment", ""))
        except RecursionError:
            raise HttpError(400, "expected a JSON object with a selector: nested too deep") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HttpError(400, f"expected a JSON object with a selector: {exc}") from None
        problem = selector_problem(selector)
        if problem:
            raise HttpError(400, f"selector: {problem}")
        return 200, "application/json", _json(act(selector, comment, body))

    def _silence(self, selector: str, comment: str, body: dict[str, Any]) -> dict[str, Any]:
        duration = str(body.get("duration", ""))
        try:
            parse_duration(duration)
        except ValueError as exc:
            raise HttpError(400, f"duration (e.g. 2h): {exc}") from None
        by = f"by {self._user()}"
        try:
            with said_if_refused("the silence"):
                silence = self.web.view.add_silence(selector, duration, f"{comment} ({by})" if comment else by)
        except Refused as exc:
            raise HttpError(507, str(exc)) from None
        log.warning("silence #%d added from the page %s: %s for %s", silence.id, shown(by), shown(selector), duration)
        return {"id": silence.id, "ends": silence.ends}

    def _ack(self, selector: str, comment: str, body: dict[str, Any]) -> dict[str, Any]:
        by = self._user()
        acks = self.web.view.acknowledge(selector, by, comment)
        if not acks:
            raise HttpError(409, f"no firing alert that is not acknowledged yet matches {selector}")
        done = ", ".join(f"{a.rule} on {a.series}" for a in acks)
        log.warning("acknowledged from the page by %s (%s): %s", shown(by), shown(comment), done)
        return {"acknowledged": [{"rule": a.rule, "series": a.series} for a in acks]}

    def _user(self) -> str:
        """Return who acts: the user name given with the page's password (as `--by` names it on the command line)."""
        authorization = self.headers.get("Authorization", "")
        try:
            name = base64.b64decode(authorization[6:], validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            name = ""
        return name.strip()[:64] or "the status page"

    def _check_csrf(self) -> None:
        """Refuse a POST another site's page could send: JSON only, our origin, and the token only our page can read."""
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise HttpError(415, "send JSON")
        origin = self.headers.get("Origin")
        if origin is not None:
            netloc = _netloc(origin)
            if netloc is None:
                raise HttpError(400, "malformed Origin header")
            if netloc != self.headers.get("Host"):
                raise HttpError(403, "cross-site request refused")
        token = self.headers.get("X-Labmon-Csrf", "")
        if not hmac.compare_digest(token.encode(), self.web.csrf.encode()):
            raise HttpError(403, "missing or wrong CSRF token; reload the page")


def collector_metrics(collector: Collector) -> bytes:
    """Return a running collector's /metrics: its gauges, the rules that are not inactive, the outbox."""
    from labmon_collector.diskalarm import severities
    from labmon_collector.web.metrics import exposition

    severity = severities(collector.rules.rules)  # the built-in rules too
    states = dict(collector.rules.states)  # one step under the GIL, as for the page
    alerts = [
        (rule, series, s.state, severity(rule, series))
        for (rule, series), s in sorted(states.items())
        if s.state != "inactive"
    ]
    outbox = [(t.target, t.backlog, t.dead, t.paused is not None) for t in collector.outbox.status()]
    return exposition(collector.gauges, alerts, outbox)


def _parsed(path: str) -> SplitResult:
    """Return the request's path split, or answer 400 if it is malformed."""
    try:
        return urlsplit(path)
    except ValueError:
        raise HttpError(400, "malformed request path") from None


def _netloc(url: str) -> str | None:
    """Return the host and port of `url`, or None if it is malformed (a "[" with no "]")."""
    try:
        return urlsplit(url).netloc
    except ValueError:
        return None


def _compressed(body: bytes, accepted: str) -> tuple[bytes, str]:
    """Return `body` gzipped if the client takes gzip and it is worth it (a 500-series poll shrinks tenfold)."""
    codings = {part.split(";")[0].strip().lower() for part in accepted.split(",")}
    if len(body) < COMPRESS_FROM or "gzip" not in codings:
        return body, ""
    return gzip.compress(body, compresslevel=6, mtime=0), "gzip"


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()
