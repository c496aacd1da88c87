"""A loopback port that never accepts: connecting to it times out, as to a host that drops packets."""

from __future__ import annotations

import socket

FILLERS = 8


class SilentListener:
    """A listening socket whose accept queue is full, so the kernel ignores further connection attempts."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(0)
        self.port: int = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._fillers: list[socket.socket] = []

    def __enter__(self) -> SilentListener:
        for _ in range(FILLERS):  # never accepted: they fill the queue, later SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in [*self._fillers, self._server]:
            sock.close()
