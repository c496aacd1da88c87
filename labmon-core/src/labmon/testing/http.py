"""A real HTTP server on loopback that answers as scripted and records every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Answer:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


@dataclass
class Request:
    """One recorded request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """Answers requests with the scripted answers in turn, then with `default`."""

    def __init__(self, default: Answer) -> None:
        self.default = default
        self.script: list[Answer] = []
        self.requests: list[Request] = []
        self._changed = threading.Condition()
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._changed:
                    answer = server.script.pop(0) if server.script else server.default
                if answer.delay:
                    server._release.wait(answer.delay)  # a slow server; released early at shutdown
                with server._changed:
                    server.requests.append(Request("POST", self.path, dict(self.headers), body, answer.status))
                    server._changed.notify_all()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (timeout): that is what the test wanted

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def wait_for(self, count: int, timeout: float = 10.0, status: int | None = None) -> list[Request]:
        """Wait until `count` requests (answered with `status`, if given) have been answered; return those."""

        def matching() -> list[Request]:
            return [r for r in self.requests if status is None or r.status == status]

        with self._changed:
            assert self._changed.wait_for(lambda: len(matching()) >= count, timeout), self.requests
            return matching()

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
