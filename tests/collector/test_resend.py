"""A collector killed after its notifier answered, before the outbox's delete: the message goes again, said so."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tomli_w

from labmon_collector.alerting.alertstore import AlertStore
from tests.conftest import collector_table, invoke

ALERT = "measurer resend-ghost has not answered"


class Gate:
    """A Discord stand-in on loopback that holds the alert's first post until told, answers it, then says so."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.arrived, self.go, self.answered = threading.Event(), threading.Event(), threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                gate.bodies.append(body)
                held = ALERT in body and not gate.arrived.is_set()
                if held:
                    gate.arrived.set()
                    gate.go.wait(60)
                answer = json.dumps({"id": "1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
                if held:
                    gate.answered.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/1/token"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def told(self) -> list[str]:
        """Return the description of every embed posted."""
        return [e["description"] for body in self.bodies for e in json.loads(body)["embeds"]]

    def close(self) -> None:
        self.go.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_collector_killed_after_its_notifier_answered_sends_it_again_as_possibly_a_repeat(
    lab, broker, tmp_path, monkeypatch
):
    gate = Gate()
    monkeypatch.setenv("TEST_DISCORD_URL", gate.url)
    config = collector_table(
        broker, [*lab, "resend-ghost"], interval="1s", reply_timeout="500ms", data_dir=str(tmp_path / "data"),
        notifiers={"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}},
        rules=[{"name": "gone", "select": "resend-ghost", "offline": True, "for": "0s"}],
    )  # fmt: skip
    config["collector"]["sinks"]["history"]["path"] = str(tmp_path / "history.sqlite")
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps(config))
    command = [sys.executable, "-m", "labmon", "--log-level", "error", "collector", str(path)]
    try:
        first = subprocess.Popen(command)
        try:
            assert gate.arrived.wait(120), "the alert never reached the notifier"
            os.kill(first.pid, signal.SIGSTOP)  # it asked; it will not see the answer
            gate.go.set()
            assert gate.answered.wait(30)
        finally:
            first.kill()
            first.wait()
        with sqlite3.connect(tmp_path / "data" / "outbox.sqlite") as db:
            marked = db.execute("SELECT payload FROM outbox WHERE sending = 1").fetchall()
        assert len(marked) == 1 and ALERT in marked[0][0]  # marked before the notifier was asked
        second = subprocess.run([*command, "--cycles", "1"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
    finally:
        gate.close()
    sent = [m for m in gate.told() if ALERT in m]
    assert len(sent) == 2, gate.told()
    assert "possibly a repeat" not in sent[0] and sent[1].endswith(
        "(possibly a repeat: the collector stopped while sending it)"
    )
    status = invoke("status", "--json", str(path))
    [discord] = [d for d in json.loads(status.output)["delivery"] if d["target"] == "notifier:discord"]
    assert discord["resent"] == 1 and discord["backlog"] == 0
    assert "sent again after a restart, possibly repeats: 1" in invoke("status", str(path)).output
    facts = AlertStore(tmp_path / "data" / "alerts.sqlite").facts()
    assert facts["resent"] == {"notifier:discord": 1}  # what the page says
