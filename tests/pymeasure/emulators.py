"""Emulators of a Thorlabs PM100USB power meter, a Lake Shore 336 temperature controller, a Keithley 2000
multimeter and an SR830 lock-in, on loopback TCP or a serial line (a pseudo-terminal).

Each speaks the SCPI subset its pymeasure driver sends, with a real device's habits: now and then an
answer comes garbled, empty, split across two writes, or so late that it lands after the client gave up.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import socketserver
import termios
import threading
import time
import tty
from collections.abc import Callable

HABITS = ("garbled", "empty", "stall")
STALL_SECONDS = 5.0  # far past any client's timeout; released at once by stop()
NOISE = b"\xfe\x80\x1f\xc3\x00\xf8"  # no line ending in it: a reader waits for one in vain
SPLIT_PAUSE = 0.05  # between the two writes of a split answer: longer than one serial byte, shorter than a timeout


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
        self.late_seconds = STALL_SECONDS
        self.serial_path = ""
        self.baud_rate: int | None = None  # on a serial line: at any other rate, only noise comes back

    @property
    def resource(self) -> str:
        """Return the VISA resource string that reaches this emulator."""
        if self.serial_path:
            return f"ASRL{self.serial_path}::INSTR"
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def habit_next(self, habit: str) -> None:
        """Give the next answer a habit: garbled, empty, stall, late (`late_seconds`), split, or "" (none)."""
        with self._lock:
            self._next.append(habit)

    def forget_habits(self) -> None:
        """Drop the habits not yet used."""
        with self._lock:
            self._next.clear()

    def reply(self, query: str) -> list[str]:
        """Return the writes that answer one query (terminator included): none when the device stays silent."""
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
            return []
        if habit == "garbled":
            middle = len(text) // 2
            text = f"{text[:middle]}\x15#{text[middle + 1 :]}"
        elif habit == "empty":
            text = ""
        elif habit in ("stall", "late"):
            self._stopped.wait(STALL_SECONDS if habit == "stall" else self.late_seconds)
        text += self.terminator
        return [text[: len(text) // 2], text[len(text) // 2 :]] if habit == "split" else [text]

    def _answer_all(self, line: str, send: Callable[[bytes], object]) -> None:
        """Answer each `;`-separated query of one line, a split answer in two writes."""
        for query in line.strip().split(";"):
            for n, write in enumerate(self.reply(query.strip())):
                if self._stopped.is_set():
                    return
                if n:
                    time.sleep(SPLIT_PAUSE)  # the device's own pace between two writes, not a test's synchronisation
                send(write.encode("ascii"))

    def start_serial(self) -> LineInstrument:
        """Answer on a pseudo-terminal: the client opens `ASRL<slave path>::INSTR`; `\r`, `\n` or both end a query."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/NL translation: a serial line passes bytes as they are
        self.serial_path = os.ttyname(slave)
        self._fds = (master, slave)  # the slave stays open here: a client's reopen finds what is still in it

        def serve() -> None:
            buffer = b""
            while not self._stopped.is_set():
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                try:
                    buffer += os.read(master, 1024)
                except OSError:
                    return
                if self.baud_rate is not None and termios.tcgetattr(slave)[4] != getattr(termios, f"B{self.baud_rate}"):
                    buffer = b""
                    os.write(master, NOISE)  # what a UART makes of bytes sent at another rate
                    continue
                *lines, buffer = re.split(rb"\r\n|\r|\n", buffer)
                for line in lines:
                    if line:
                        self._answer_all(line.decode("ascii", errors="replace"), lambda data: os.write(master, data))

        self._serial_thread = threading.Thread(target=serve, daemon=True)
        self._serial_thread.start()
        return self

    def start(self) -> LineInstrument:
        """Listen on a free loopback port."""
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    with contextlib.suppress(OSError):  # a stalled answer to a client that hung up
                        emulator._answer_all(line.decode("ascii", errors="replace"), self.request.sendall)

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
        if self.serial_path:
            self._serial_thread.join()  # before closing: a new pty may get the same descriptor numbers
            for fd in self._fds:
                os.close(fd)


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


KEITHLEY_MODES = {"VOLT:DC": "V", "VOLT:AC": "V", "RES": "ohm", "CURR:DC": "A"}


def multimeter(volts: float = 1.00014, ohms: float = 1000.14, terminator: str = "\n") -> LineInstrument:
    """A Keithley 2000 on DC volts (auto range); `over_range` makes `:READ?` answer +9.9E37, as it does."""
    state = {"mode": "VOLT:DC", "range": "+1.000000E+01", "over_range": False}

    def answer(query: str) -> str | None:
        command = query.upper()
        if command == ":CONF?":
            return f'"{state["mode"]}"'
        if command.startswith(":CONF:") and command[6:] in KEITHLEY_MODES:
            state["mode"] = command[6:]
        elif command == ":READ?":
            if state["over_range"]:
                return "+9.9E37"
            return f"{ohms if state['mode'] == 'RES' else volts:+.5E}"
        elif command == ":SENS:VOLT:RANG?":
            return state["range"]
        elif command.startswith(":SENS:VOLT:RANG "):
            state["range"] = f"{float(command.split()[1]):+.6E}"
        return None  # a command, or a query it does not know: silent, an error queued

    meter = LineInstrument("KEITHLEY INSTRUMENTS INC.,MODEL 2000,1234567,A20 /A02", answer, terminator)
    meter.state = state  # type: ignore[attr-defined]
    return meter


def lock_in(terminator: str = "\r") -> LineInstrument:
    """An SR830 answering in `\r` (its RS-232 ending): x, y, r and theta each a value no other can be mistaken for."""
    outputs = {"1": "1.100000E-03", "2": "-2.200000E-03", "3": "2.459675E-03", "4": "-63.43495"}

    def answer(query: str) -> str | None:
        command = query.upper().replace(" ", "")
        if command.startswith("OUTP?") and command[5:] in outputs:
            return outputs[command[5:]]
        if command.startswith("SNAP?"):
            picks = command[5:].split(",")
            if all(p in outputs for p in picks):
                return ",".join(outputs[p] for p in picks)
        return None

    return LineInstrument("Stanford_Research_Systems,SR830,s/n12345,ver1.07", answer, terminator)
