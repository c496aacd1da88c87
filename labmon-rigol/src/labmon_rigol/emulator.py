"""A DS2072A-like SCPI scope on a TCP socket, for tests and for demos without hardware."""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

XINCREMENT = 1e-8
# 0 V at byte 10 (YORIGIN + YREFERENCE): a photodiode's trace placed low on the screen, so the baseline's noise
# sends many 0x0A bytes, as a real trace does, and a block must never be read as a line.
YINCREMENT, YORIGIN, YREFERENCE = 0.04, -117.0, 127.0
INVALID = "9.9E37"
UNDEFINED, NO_ERROR = '-113,"Undefined header"', '0,"No error"'
# The :MEAS items a DS2000 knows (those it cannot compute on this trace answer INVALID, as a real one does).
MEASUREMENT_ITEMS = frozenset({
    "VPP", "VMAX", "VMIN", "VAVG", "VRMS", "VAMP", "VTOP", "VBAS", "FREQ", "PER",
    "RTIM", "FTIM", "PWID", "NWID", "PDUT", "NDUT", "OVER", "PRES",
})  # fmt: skip


@dataclass
class ScopeState:
    """What the emulated scope shows and how awkwardly it answers; tests and the demo change it while it runs."""

    model: str = "DS2072A"
    locked: bool = True
    peak_time: float = -2e-6
    locked_jitter: float = 2e-9
    unlocked_jitter: float = 1e-6
    unlocked_presence: float = 0.3
    peak_volts: float = 3.0
    noise_volts: float = 0.02
    peaks: int = 1
    invalid: frozenset[str] = frozenset()
    short_rate: float = 0.0
    garbled_rate: float = 0.0
    stall_rate: float = 0.0
    trigger_polls: int = 1
    triggers: bool = True
    acquisition_time: float = 0.0
    """Seconds a `:SING` takes to complete (0: after `trigger_polls` answers of WAIT instead)."""
    frame_period: float = 0.0
    """Seconds between new screens while running (0: a new one for every `:WAV:DATA?`)."""
    separate_answers: bool = False
    """Send each answer of a message on its own (Nagle on), as many scopes do: a client's delayed ACK holds the next."""
    hang_after_blocks: int | None = None
    """Go silent (`hung`) after serving this many more blocks."""
    hung: bool = False
    """Ignore every command and answer nothing, as a scope that hangs; set it back to False to end the hang."""
    seed: int = 0


class ScopeEmulator:
    """Serves SCPI on 127.0.0.1; `disappear()` and `reappear()` emulate a scope unplugged and back.

    Like the real one, the screen changes only with an acquisition: every `frame_period` while running,
    once per `:SING` (after `acquisition_time`, or `trigger_polls` answers of WAIT to `:TRIG:STAT?`), never
    while stopped. `:SING` sets the trigger sweep to SING, and `:RUN` keeps the sweep it finds.
    `acquisitions` counts them, so a test can tell new traces from re-reads of one screen.
    """

    def __init__(self, port: int = 0, state: ScopeState | None = None) -> None:
        self.state = state or ScopeState()
        self._rng = np.random.default_rng(self.state.seed)
        self._faults = np.random.default_rng(self.state.seed + 1)
        self._settings = {"format": "BYTE", "trigger": "RUN", "sweep": "AUTO"}
        self._waiting = 0
        self._armed_at = self._frame_at = 0.0
        self._errors: deque[str] = deque(maxlen=20)  # the scope's error queue, read by :SYST:ERR?
        self._screen: np.ndarray | None = None
        self.acquisitions = 0
        self._lock = threading.Lock()
        self.port = port
        self._server: socketserver.ThreadingTCPServer | None = None
        self.commands: list[str] = []
        self.messages: list[str] = []
        """Each line received, its commands not yet split."""
        self._connections: set[socket.socket] = set()

    @property
    def resource(self) -> str:
        """Return the VISA resource string that reaches this emulator."""
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> ScopeEmulator:
        """Listen (on the same port again after a `disappear`)."""
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with emulator._lock:
                    emulator._connections.add(self.connection)
                for line in self.rfile:
                    message = line.decode("ascii", errors="replace").strip()
                    emulator.messages.append(message)
                    commands = message.split(";")
                    answers = [a for a in (emulator.answer(command.strip()) for command in commands) if a]
                    if emulator.state.separate_answers:
                        for answer in answers:  # each its own segment: Nagle holds the second until an ACK
                            self.wfile.write(answer)
                    else:  # one send per message, as a scope's output buffer
                        self.wfile.write(b"".join(answers))

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def disappear(self) -> None:
        """Stop listening and cut every connection, as a scope that is switched off."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    reappear = start

    def answer(self, command: str) -> bytes | None:
        """Return the answer to one SCPI command (None for commands that answer nothing).

        A query the scope does not know (or a channel it lacks) gets no answer, so the client times out,
        and queues -113 for :SYST:ERR?, as a real DS2072A. Setting commands are accepted and only logged.
        """
        if not command or self.state.hung:
            return None
        with self._lock:
            self.commands.append(command)
            upper = command.upper()
            if upper == "*IDN?":
                return f"RIGOL TECHNOLOGIES,{self.state.model},DS2D000000001,00.03.06\n".encode()
            if upper == "*OPC?":
                return b"1\n"
            if upper in (":SYST:ERR?", ":SYSTEM:ERROR?", ":SYST:ERR:NEXT?"):
                return (self._errors.popleft() if self._errors else NO_ERROR).encode() + b"\n"
            if upper.startswith(":WAV:FORM "):  # every channel shows the same trace; SOUR and MODE are only logged
                self._settings["format"] = upper.split()[1][:3]
            elif upper in (":RUN", ":STOP", ":SING", ":SINGLE"):
                self._run_control(upper)
            elif upper in (":TRIG:STAT?", ":TRIGGER:STATUS?"):
                return f"{self._trigger_status()}\n".encode()
            elif upper.startswith(":TRIG:SWE "):
                self._settings["sweep"] = upper.split()[1][:4]
            elif upper == ":TRIG:SWE?":
                return f"{self._settings['sweep']}\n".encode()
            elif upper == ":WAV:PRE?":
                fmt = {"BYTE": 0, "WOR": 1, "ASC": 2}.get(self._settings["format"], 0)
                points, origin = self.points, -self.points / 2 * XINCREMENT
                return (
                    f"{fmt},0,{points},1,{XINCREMENT:e},{origin:e},0,{YINCREMENT:e},{YORIGIN:e},{YREFERENCE:g}\n"
                ).encode()
            elif upper == ":WAV:DATA?":
                return self._data()
            elif self._measurable(upper):
                return f"{self._measure(upper)}\n".encode()
            elif "?" in upper:
                self._errors.append(UNDEFINED)
            return None

    @property
    def points(self) -> int:
        """Return the screen's points in NORM mode: 14 divisions x 100 on DS2000, 12 on DS1000Z."""
        return 1200 if self.state.model.startswith("DS1") else 1400

    def _run_control(self, command: str) -> None:
        """:RUN, :STOP or :SING; with the sweep on SING, :RUN arms one more single acquisition."""
        if command in (":SING", ":SINGLE"):
            self._settings["sweep"] = "SING"
        single = self._settings["sweep"] == "SING"
        self._settings["trigger"] = "STOP" if command == ":STOP" else "WAIT" if single else "RUN"
        self._waiting = self.state.trigger_polls
        self._armed_at = time.monotonic()

    def _trigger_status(self) -> str:
        """Answer :TRIG:STAT?; a single acquisition completes after `acquisition_time` or `trigger_polls` WAITs."""
        if self._settings["trigger"] == "WAIT" and self.state.triggers:
            if self.state.acquisition_time:
                done = time.monotonic() - self._armed_at >= self.state.acquisition_time
            else:
                done, self._waiting = self._waiting <= 0, self._waiting - 1
            if done:
                self._acquire()
                self._settings["trigger"] = "STOP"
        return self._settings["trigger"]

    def _acquire(self) -> np.ndarray:
        self._screen = self.volts()
        self.acquisitions += 1
        return self._screen

    def volts(self) -> np.ndarray:
        """Return one acquisition in volts: unlocked, each peak is missing or wanders widely."""
        s = self.state
        t = (np.arange(self.points) - self.points / 2) * XINCREMENT
        trace = self._rng.normal(0.0, s.noise_volts, self.points)
        jitter = s.locked_jitter if s.locked else s.unlocked_jitter
        width = 1.5e-7
        for k in range(s.peaks):
            if not s.locked and self._rng.random() >= s.unlocked_presence:
                continue
            centre = s.peak_time + k * 2.5e-6 + self._rng.normal(0.0, jitter)
            trace += s.peak_volts * np.exp(-0.5 * ((t - centre) / width) ** 2)
        return trace

    def _data(self) -> bytes | None:
        s = self.state
        now = time.monotonic()
        new = self._settings["trigger"] == "RUN" and now - self._frame_at >= s.frame_period
        if new:
            self._frame_at = now
        volts = self._acquire() if new or self._screen is None else self._screen
        if s.hang_after_blocks is not None:
            s.hang_after_blocks -= 1
            if s.hang_after_blocks < 0:
                s.hung, s.hang_after_blocks = True, None
        fault = self._faults.random()
        if s.hung or fault < s.stall_rate:
            return None  # the request is lost: the client times out
        if self._settings["format"] == "ASC":
            body = ",".join(f"{v:.6e}" for v in volts).encode()
        else:
            raw = np.clip(np.round(volts / YINCREMENT + YORIGIN + YREFERENCE), 0, 255).astype(np.uint8)
            body = raw.tobytes()
        fault -= s.stall_rate
        if fault < s.short_rate:
            body = body[: self._faults.integers(1, len(body))]  # fewer points than :WAV:PRE? announced
        elif fault - s.short_rate < s.garbled_rate:
            return b"#9" + f"{len(body):09d}".encode()[:4] + b"?\x00" + body[:200] + b"\n"  # a broken header
        return b"#9" + f"{len(body):09d}".encode() + body + b"\n"

    def _measurable(self, command: str) -> bool:
        """Return whether `command` is `:MEAS:ITEM? CHANn` for an item this scope knows and a channel it has."""
        match = re.fullmatch(r":MEAS:(\w+)\? CHAN(\d)", command)
        channels = int(re.findall(r"\d", self.state.model)[3])  # DS2072A: 2, DS1104Z: 4
        return match is not None and match[1] in MEASUREMENT_ITEMS and 1 <= int(match[2]) <= channels

    def _measure(self, command: str) -> str:
        item = command.split(":")[2].split("?")[0]
        if item in self.state.invalid:
            return INVALID
        volts = self.volts()
        values = {
            "VPP": volts.max() - volts.min(),
            "VMAX": volts.max(),
            "VMIN": volts.min(),
            "VAVG": volts.mean(),
            "VRMS": float(np.sqrt(np.mean(volts**2))),
            "VTOP": volts.max(),
            "VBAS": float(np.median(volts)),
            "VAMP": volts.max() - float(np.median(volts)),
            "FREQ": 4e5 if self.state.peaks > 1 else None,
            "PER": 2.5e-6 if self.state.peaks > 1 else None,
        }
        value = values.get(item)
        return INVALID if value is None else f"{value:.6e}"
