"""A TCP link a test can cut and heal: a proxy on a loopback port in front of a real server."""

from __future__ import annotations

import contextlib
import socket
import threading


class Link:
    """Forwards connections on `port` to `target`; `cut()` closes them and turns new ones away until `heal()`;
    `stall()` holds what they carry, connections open (a route gone dark), until `flow()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._cut = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Close every connection through the link; turn new ones away."""
        with self._lock:
            self._cut = True
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def heal(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._cut = False

    def stall(self) -> None:
        """Hold everything the open connections carry, without closing them."""
        self._flowing.clear()

    def flow(self) -> None:
        """Deliver what was held, and all that follows."""
        self._flowing.set()

    def close(self) -> None:
        """Cut the link for good and stop listening."""
        self.cut()
        self.flow()  # what a stall held goes nowhere now
        _close(self._server)

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._server.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self._cut:
                    _close(near)
                    continue
            try:
                far = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(near)
                continue
            far.settimeout(None)
            with self._lock:
                self._open += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
