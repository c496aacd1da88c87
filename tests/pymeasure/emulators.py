"""Emulators of a Thorlabs PM100USB power meter and a Lake Shore 336 temperature controller on loopback TCP.

Each speaks the SCPI subset its pymeasure driver sends, with a real device's habits: now and then an
answer comes garbled, empty, or so late that it lands in the buffer after the client gave up.
"""

from __future__ import annotations

import contextlib
import random
import socketserver
import threading
from collections.abc import Callable

HABITS = ("garbled", "empty", "stall")
STALL_SECONDS = 5.0  # far past any client's timeout; released at once by stop()


class LineInstrument:
    """Answers one query per line on 127.0.0.1; `habit_next` and `sporadic` make it misbehave."""

    def __init__(self, idn: str, answer: Callable[[str], str | None], terminator: str, sporadic: float = 0.0) -> None:
        self.idn, self._answer, self.terminator = idn, answer, terminator
        self.sporadic = sporadic
        self.queries: list[str] = []
        self._next: list[str] = []
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self.port = 0

    @property
    def resource(self) -> str:
        """Return the VISA resource string that reaches this emulator."""
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def habit_next(self, habit: str) -> None:
        """Give the next answer this habit: garbled, empty or stall."""
        with self._lock:
            self._next.append(habit)

    def reply(self, query: str) -> str | None:
        """Return the raw answer to one query (terminator included), or None when the device stays silent."""
        with self._lock:
            self.queries.append(query)
            if self._next:
                habit = self._next.pop(0)
            elif self.sporadic and self._rng.random() < self.sporadic:
                habit = self._rng.choice(HABITS)
            else:
                habit = ""
        text = self.idn if query == "*IDN?" else self._answer(query)
        if text is None:
            return None
        if habit == "garbled":
            middle = len(text) // 2
            text = f"{text[:middle]}\x15#{text[middle + 1 :]}"
        elif habit == "empty":
            text = ""
        elif habit == "stall":
            self._stopped.wait(STALL_SECONDS)
        return text + self.terminator

    def start(self) -> LineInstrument:
        """Listen on a free loopback port."""
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    for query in line.decode("ascii", errors="replace").strip().split(";"):
                        answer = emulator.reply(query.strip())
                        if answer is not None and not emulator._stopped.is_set():
                            with contextlib.suppress(OSError):  # a stalled answer to a client that hung up
                                self.wfile.write(answer.encode("ascii"))

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and release stalled answers."""
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def power_meter(power: float = 1.25e-3, sporadic: float = 0.0) -> LineInstrument:
    """A PM100USB with an S120C photodiode sensor (power sensor, settable wavelength) at 780 nm."""
    rng = random.Random(1)
    answers = {
        "SYST:SENSOR:IDN?": "S120C,11040123,18-Sep-2019,1,18,289",
        "SENSE:CORR:WAV?": "7.800000E+02",
        "SENS:CORR:WAV? MIN": "4.000000E+02",
        "SENS:CORR:WAV? MAX": "1.100000E+03",
    }

    def answer(query: str) -> str | None:
        if query == "MEAS:POW?":
            return f"{power * (1 + rng.gauss(0, 0.002)):.6E}"
        return answers.get(query)  # an unknown query: the PM100 only queues an error and stays silent

    return LineInstrument("Thorlabs,PM100USB,P2000123,1.7.0", answer, "\n", sporadic)


def temperature_controller(kelvin: dict[str, float] | None = None, sporadic: float = 0.0) -> LineInstrument:
    """A Lake Shore 336 with sensors on inputs A to D; answers as the manual shows, e.g. `+077.350`."""
    temperatures = kelvin or {"A": 77.35, "B": 4.212, "C": 295.1, "D": 300.0}

    def answer(query: str) -> str | None:
        command, _, channel = query.partition(" ")
        if channel not in temperatures:
            return None
        if command == "KRDG?":
            return f"{temperatures[channel]:+08.3f}"
        if command == "CRDG?":
            return f"{temperatures[channel] - 273.15:+08.3f}"
        return None

    return LineInstrument("LSCI,MODEL336,LSA2AB1/#######,2.9", answer, "\r\n", sporadic)
