"""Run a private Mosquitto broker on a free loopback port (demo, tests, benchmarks)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/bin:/usr/local/bin"


class BrokerUnavailable(RuntimeError):
    """Mosquitto is not installed or did not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateBroker:
    """A `mosquitto` process listening on 127.0.0.1 only, allowing anonymous clients."""

    def __init__(self, port: int | None = None, *, extra_config: str = "") -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._extra = extra_config
        self._dir = Path(tempfile.mkdtemp(prefix="labmon-broker-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> PrivateBroker:
        """Start mosquitto and return once it says it is running (its listeners are then open)."""
        binary = shutil.which("mosquitto", path=SEARCH_PATH)
        if binary is None:
            raise BrokerUnavailable("mosquitto is not installed; install it with: apt-get install -y mosquitto")
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            f"log_dest stderr\nlog_type error\nlog_type warning\nlog_type information\n{self._extra}\n"
        )
        self._process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE)
        running = threading.Event()
        self._exited = threading.Event()
        self.log_lines: list[str] = []
        threading.Thread(target=self._drain, args=(self._process, running), daemon=True).start()
        if not running.wait(timeout) or self._exited.is_set():
            self.stop()
            said = " | ".join(self.log_lines) or "nothing"
            raise BrokerUnavailable(f"mosquitto did not start on {self.host}:{self.port}; it said: {said}")
        return self

    def _drain(self, process: subprocess.Popen[bytes], running: threading.Event) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").strip()
            self.log_lines.append(line)
            if " running" in line:
                running.set()
        process.wait()
        self._exited.set()  # before `running`: start() must see the exit, not a broker that started
        running.set()

    def stop(self) -> None:
        """Stop the broker and wait for it to exit."""
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> PrivateBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
