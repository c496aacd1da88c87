"""A Rigol DS2000/DS1000Z oscilloscope as a labmon instrument, through PyVISA's pure-Python backend."""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from labmon import Duration, OptionError, Reading, spans_problem
from labmon_rigol.pacing import Pacer
from labmon_rigol.resource import resource_problem
from labmon_rigol.runstate import NOT_TAKEN, Found, RunState, put_back, taken
from labmon_rigol.visa import open_session

if TYPE_CHECKING:
    from labmon_rigol import acquisition
    from labmon_rigol.acquisition import Acquire, TraceSet

log = logging.getLogger(__name__)

MEASUREMENTS: dict[str, tuple[str, str]] = {
    "vpp": ("VPP", "V"),
    "vmax": ("VMAX", "V"),
    "vmin": ("VMIN", "V"),
    "vavg": ("VAVG", "V"),
    "vrms": ("VRMS", "V"),
    "vamp": ("VAMP", "V"),
    "vtop": ("VTOP", "V"),
    "vbase": ("VBAS", "V"),
    "frequency": ("FREQ", "Hz"),
    "period": ("PER", "s"),
    "rise_time": ("RTIM", "s"),
    "fall_time": ("FTIM", "s"),
    "positive_width": ("PWID", "s"),
    "negative_width": ("NWID", "s"),
    "positive_duty": ("PDUT", ""),
    "overshoot": ("OVER", ""),
}
"""Built-in scope measurements: config name -> (`:MEAS:<item>?` item, unit)."""

METRICS: dict[str, str] = {
    "mean": "V",
    "std": "V",
    "min": "V",
    "max": "V",
    "rms": "V",
    "peak_count": "",
    "peak_presence": "",
    "peak_time": "s",
    "peak_height": "V",
    "jitter": "s",
    "jitter_variance": "s^2",
    "valid_traces": "",
}
"""Waveform metrics computed here from the screen traces: config name -> unit."""

INVALID_ABOVE = 1e36  # the scope answers 9.9e37 when a measurement has no valid value
SCREEN_POINTS = {"DS2": 1400, "MSO2": 1400, "DS1": 1200, "MSO1": 1200}
MODEL = re.compile(r"^(?:DS|MSO)\d\d\d(\d)")  # DS2072A: 2 channels, DS1054Z: 4, DS1102Z-E: 2


def channel_count(model: str) -> int | None:
    """Return how many analog channels a Rigol model has, from its name; None if the name says nothing."""
    match = MODEL.match(model.upper())
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RigolConfig:
    """Options of a Rigol scope."""

    resource: str
    model: str | None = None
    channels: list[int] = field(default_factory=lambda: [1])
    measurements: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    traces: int = 1
    acquire: Literal["auto", "single", "screen"] = "auto"
    trigger_timeout: Duration = Duration(1.0)
    min_valid_traces: float = 0.9
    peak: Literal["first", "highest"] = "first"
    peak_threshold: float = 0.5
    peak_hysteresis: float = 0.1
    peak_min_height: float = 0.1
    peak_noise_factor: float = 5.0
    min_presence: float = 0.5
    take_over: bool = False
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        errors = [e for e in (resource_problem(self.resource, ("TCPIP", "USB")),) if e is not None]
        errors += self._reading_problems()
        if not self.measurements and not self.metrics:
            errors.append(
                OptionError("metrics", "nothing to read", 'set measurements = ["vpp"] and/or metrics = ["jitter"]')
            )
        count = channel_count(self.model) if self.model else 4
        if count is None:
            errors.append(OptionError("model", f"{self.model!r} is not a Rigol model name", 'e.g. model = "DS2072A"'))
        elif not all(1 <= c <= count for c in self.channels):
            scope = f"the {self.model}" if self.model else "a Rigol scope"
            errors.append(
                OptionError("channels", f"{scope} has channels 1 to {count}", f"channels = [1] (up to {count})")
            )
        errors += self._trace_problems()
        OptionError.raise_all(errors)

    def _reading_problems(self) -> list[OptionError]:
        errors = []
        unknown = [m for m in self.measurements if m not in MEASUREMENTS]
        if unknown:
            errors.append(OptionError("measurements", f"unknown {unknown}", f"known: {', '.join(MEASUREMENTS)}"))
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            errors.append(OptionError("metrics", f"unknown {unknown}", f"known: {', '.join(METRICS)}"))
        return errors

    def _trace_problems(self) -> list[OptionError]:
        errors = []
        jitter = sorted({"jitter", "jitter_variance"} & set(self.metrics))
        if jitter and self.traces < 2:
            fix = "jitter is the spread of the peak's time over many traces: e.g. traces = 300"
            errors.append(
                OptionError(
                    "traces", f"{' and '.join(jitter)} need{'s' if len(jitter) == 1 else ''} at least 2 traces", fix
                )
            )
        elif self.traces < 1:
            errors.append(OptionError("traces", "must be at least 1", "traces = 1"))
        fractions = {
            "min_valid_traces": self.min_valid_traces,
            "min_presence": self.min_presence,
            "peak_threshold": self.peak_threshold,
        }
        for key, value in fractions.items():
            if not 0 < value <= 1:
                errors.append(OptionError(key, f"{value:g} is not a fraction", "between 0 (exclusive) and 1"))
        if self.peak_min_height <= 0:
            errors.append(OptionError("peak_min_height", "must be above 0 V", "e.g. peak_min_height = 0.1"))
        if self.peak_noise_factor < 0:
            errors.append(OptionError("peak_noise_factor", "must not be negative", "e.g. peak_noise_factor = 5.0"))
        problem = spans_problem(self, trigger_timeout="1s")
        if problem is not None:
            errors.append(problem)
        return errors

    @property
    def mode(self) -> Literal["single", "screen"]:
        """Return the acquisition mode: `auto` is a new acquisition per trace when there are several."""
        if self.acquire == "auto":
            return "single" if self.traces > 1 else "screen"
        return self.acquire


class NotTaken(Exception):
    """The scope was stopped or armed by hand, and `take_over` is false."""


class RigolScope:
    """Sets the waveform settings it relies on, reads BYTE blocks and scales them with :WAV:PRE?.

    A scope stopped or armed by hand is not read unless `take_over`; one labmon takes (its own single
    acquisitions) is put back as found after the read, or at the next open after a stalled or killed read.
    """

    Config = RigolConfig

    def __init__(self, config: RigolConfig) -> None:
        self.config = config
        self._scope = open_session(config.resource, backend=config.backend, timeout=config.visa_timeout)
        try:
            self.identity, self.model = self._identify()
            self._found = Found(config.resource)
            put_back(self._scope, self._found)
        except BaseException:
            self._scope.close()
            raise
        self.points = next((n for prefix, n in SCREEN_POINTS.items() if self.model.startswith(prefix)), None)
        from labmon_rigol import acquisition  # numpy and the waveform maths: with the scope, not with `labmon check`

        self._acquisition = acquisition
        self._pacers = {"single": Pacer(), "screen": Pacer()}
        """The time an acquisition takes, and a running screen's frame period, learnt as they are read."""

    def _identify(self) -> tuple[str, str]:
        """Return `*IDN?` and the model; raise if it is not a Rigol scope with the configured channels."""
        identity = self._scope.query("*IDN?").strip()
        maker, model = [*identity.split(","), "", ""][:2]
        if "RIGOL" not in maker.upper():
            raise ConnectionError(f"{self.config.resource} is not a Rigol scope: *IDN? answered {identity!r}")
        count = channel_count(model)
        if count is not None and max(self.config.channels) > count:
            raise ValueError(f"the {model} at {self.config.resource} has channels 1 to {count}: fix channels")
        return identity, model

    def read(self) -> list[Reading]:
        """Return each channel's measurements and metrics; an I/O failure raises (the measurer reopens)."""
        c = self.config
        try:
            with self._held(c.mode if c.metrics else "screen", measuring=bool(c.measurements)) as mode:
                readings: list[Reading] = []
                for channel in c.channels:
                    readings.extend(self._measure(channel, item) for item in c.measurements)
                    if c.metrics:
                        readings.extend(self._metrics(channel, mode))
                return readings
        except NotTaken as why:
            names = [(f"ch{ch}_{m}", MEASUREMENTS[m][1]) for ch in c.channels for m in c.measurements]
            names += [(f"ch{ch}_{m}", METRICS[m]) for ch in c.channels for m in c.metrics]
            return [Reading.failed(name, str(why), unit) for name, unit in names]

    @contextlib.contextmanager
    def _held(self, mode: Acquire, *, measuring: bool = False) -> Iterator[Acquire]:
        """Yield how to read the scope as found (NotTaken: not to be read), and put it back as found afterwards.

        A stopped scope taken over has no new screen: it is read by single acquisitions, its measurements
        from a new one.
        """
        state = RunState.of(self._scope, sweep=mode == "single")
        why = state.by_hand()
        if why is not None and not self.config.take_over:
            raise NotTaken(why + NOT_TAKEN)
        if state.running and mode == "screen":
            yield mode
            return
        with taken(self._scope, state, self._found):
            if not state.running and measuring:
                self._acquisition.acquire(self._scope, self._plan("single"), self._pacers["single"])
            yield "single"

    def _measure(self, channel: int, item: str) -> Reading:
        command, unit = MEASUREMENTS[item]
        name = f"ch{channel}_{item}"
        answer = self._scope.query(f":MEAS:{command}? CHAN{channel}")
        try:
            value = float(answer)
        except ValueError:
            return Reading.failed(name, f"no number in the scope's answer {answer.strip()!r}", unit)
        if abs(value) > INVALID_ABOVE:
            return Reading.failed(name, f"no valid measurement (the scope answered {value:g})", unit)
        return Reading.ok(name, value, unit)

    def traces(self, channel: int, count: int) -> TraceSet:
        """Read `count` traces of `channel` in volts, as configured; bad traces are dropped and counted."""
        with self._held(self.config.mode) as mode:
            return self._traces(channel, count, mode)

    def _traces(self, channel: int, count: int, mode: Acquire) -> TraceSet:
        plan, pacer = self._plan(mode), self._pacers[mode]
        return self._acquisition.read_traces(self._scope, channel, count, self.points, plan, pacer)

    def _plan(self, mode: Acquire) -> acquisition.TracePlan:
        return self._acquisition.TracePlan(mode, self.config.trigger_timeout, self.config.min_valid_traces)

    def _metrics(self, channel: int, mode: Acquire) -> list[Reading]:
        from labmon_rigol.lock import PeakRules, metric_values  # numpy: with the first read

        c = self.config
        names = {m: f"ch{channel}_{m}" for m in c.metrics}
        got = self._traces(channel, c.traces, mode)
        valid = len(got.volts)
        if got.dropped:
            log.info(
                "%s CHAN%d: %d of %d traces dropped: %s",
                c.resource,
                channel,
                c.traces - valid,
                c.traces,
                got.failures(),
            )
        if valid < math.ceil(c.min_valid_traces * c.traces) or valid == 0:
            why = f"only {valid} of {c.traces} traces valid (min_valid_traces {c.min_valid_traces:g}): {got.failures()}"
            return [Reading.failed(names[m], why, METRICS[m]) for m in c.metrics]
        rules = PeakRules(
            c.peak, c.peak_threshold, c.peak_hysteresis, c.peak_min_height, c.peak_noise_factor, c.min_presence
        )
        values = metric_values(got, rules)
        return [_reading(names[m], values[m], METRICS[m]) for m in c.metrics]

    def close(self) -> None:
        """Close the VISA session."""
        self._scope.close()


def _reading(name: str, value: float | str, unit: str) -> Reading:
    return Reading.ok(name, value, unit) if isinstance(value, float) else Reading.failed(name, value, unit)
